/** An 8-bit image as the service sees it: RGB planes interleaved, alpha kept aside untouched. */
export interface RgbImage {
  width: number;
  height: number;
  /** width*height*3 bytes, row-major, interleaved RGB. */
  rgb: Uint8Array;
  /** width*height bytes when the input had an alpha channel; passed through to the output unchanged. */
  alpha?: Uint8Array;
}
