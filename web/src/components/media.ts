// Attaches a video URL to a <video>: natively (MP4/WebM, or HLS where the
// browser plays it, e.g. Safari), else HLS through hls.js, loaded only when
// a playlist needs it (its own chunk, outside the first-render bundle; the
// light build: no alternate audio, subtitles or DRM, which Loop does not use).

export function attachMedia(el: HTMLVideoElement, url: string, onError: () => void): () => void {
  let cancelled = false;
  let destroy: (() => void) | null = null;
  const isHls = /\.m3u8(\?|$)/i.test(url);
  const fail = () => {
    if (!cancelled) onError();
  };
  if (!isHls || el.canPlayType("application/vnd.apple.mpegurl")) {
    el.src = url;
    el.addEventListener("error", fail);
    destroy = () => {
      el.removeEventListener("error", fail);
      el.removeAttribute("src");
      el.load();
    };
  } else {
    void import("hls.js/light").then(({ default: Hls }) => {
      if (cancelled) return;
      if (!Hls.isSupported()) return fail();
      const hls = new Hls({ maxBufferLength: 10 });
      hls.on(Hls.Events.ERROR, (_event, data) => {
        if (data.fatal) fail();
      });
      hls.loadSource(url);
      hls.attachMedia(el);
      destroy = () => hls.destroy();
    }, fail);
  }
  return () => {
    cancelled = true;
    destroy?.();
  };
}
