// Icons as inline SVG (no icon font, no emoji font needed), hidden from
// assistive technology: their buttons carry the label.

const svg = { width: 26, height: 26, viewBox: "0 0 24 24", fill: "none", stroke: "currentColor", strokeWidth: 2, "aria-hidden": true } as const;

export const CommentIcon = () => (
  <svg {...svg}>
    <path d="M21 12a8 8 0 0 1-11.6 7.1L4 20.5l1.4-4.6A8 8 0 1 1 21 12z" strokeLinejoin="round" />
  </svg>
);

export const SoundOffIcon = () => (
  <svg {...svg}>
    <path d="M4 9h4l5-4v14l-5-4H4z" strokeLinejoin="round" />
    <path d="M17 9l4 6M21 9l-4 6" strokeLinecap="round" />
  </svg>
);

export const SoundOnIcon = () => (
  <svg {...svg}>
    <path d="M4 9h4l5-4v14l-5-4H4z" strokeLinejoin="round" />
    <path d="M16.5 8.5a5 5 0 0 1 0 7M19 6a8.5 8.5 0 0 1 0 12" strokeLinecap="round" />
  </svg>
);
