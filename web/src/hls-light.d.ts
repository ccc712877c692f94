// hls.js ships its light build without its own declaration: same API.
declare module "hls.js/light" {
  export * from "hls.js";
  export { default } from "hls.js";
}
