/**
 * The chunked transfer coding (RFC 9112 §7.1), decoded as bytes arrive, in any split.
 *
 * Strict like the head parser: a chunk size is 1 to 12 hex digits (up to 256 TiB, so it stays an
 * exact number) followed at once by `;` or CRLF (no whitespace: llhttp refuses it too unless
 * lenient); chunk extensions are `;name` or `;name=value` with a token or quoted-string value,
 * at most 4 KiB per size line, and are dropped (they are hop-by-hop); chunk data is followed by
 * CRLF; the trailer section is field lines (fields.ts) of at most `maxTrailerBytes`, without
 * Content-Length, Transfer-Encoding, Host or Connection.
 */
import { CR, equalsLower, HEX, LF, QDTEXT, TCHAR } from './chars.js';
import { E, type ParseError } from './errors.js';
import { Fields, scanFields } from './fields.js';

const enum S {
  Size,
  SizeMore,
  ExtName,
  ExtNameMore,
  ExtValue,
  ExtToken,
  ExtQuoted,
  ExtQuotedPair,
  ExtAfterQuoted,
  SizeLf,
  Data,
  DataCr,
  DataLf,
  TrailerLineStart,
  TrailerLine,
  TrailerLineLf,
  TrailerEndLf,
  Done,
}

const MAX_SIZE_DIGITS = 12;
const MAX_SIZE_LINE = 4096;
const EMPTY = Buffer.alloc(0);

/**
 * Receives the body's bytes: buf[start, end), valid only during the call (copy to keep). Returning
 * exactly false stops decoding after these bytes (the receiver is full): decode() then returns where to
 * resume, with `done` false. The decoder never reads buf before `start` again: a sink that owns
 * the buffer may overwrite those bytes (ChunkGather gathers a read's chunk data there).
 */
export type DataSink = (buf: Buffer, start: number, end: number) => unknown;

/**
 * Gathers the chunk data of one read into one run of bytes, in place: each piece moves down to just
 * after the previous piece of the read, over the chunk framing already decoded, so the read's data
 * can be handed on in one call (one write on the other side, not one per chunk). A single piece
 * stays where it is: no copy at all; nothing is allocated. Only for bytes the caller owns, decoded
 * once: the framing between the pieces is overwritten (the decoder never reads it again).
 */
export class ChunkGather {
  /** The data gathered since reset(): buf[start, start + length). */
  start = 0;
  length = 0;

  reset(): void {
    this.length = 0;
  }

  /** The decoder's sink (never stops it: the whole read is decoded). */
  readonly sink = (buf: Buffer, start: number, end: number): void => {
    if (this.length === 0) {
      this.start = start;
      this.length = end - start;
      return;
    }
    const to = this.start + this.length;
    // Small pieces byte by byte: cheaper than a call into copyWithin. `to` < `start` (the framing
    // between them was at least 5 bytes), so a forward copy is safe.
    if (end - start <= 16) for (let i = start; i < end; i++) buf[to + i - start] = buf[i]!;
    else buf.copyWithin(to, start, end);
    this.length += end - start;
  };

  /** The data gathered, a view of `buf` (the buffer given to decode()). */
  view(buf: Buffer): Buffer {
    return buf.subarray(this.start, this.start + this.length);
  }
}

export class ChunkedDecoder {
  #state = S.Size;
  #size = 0;
  #digits = 0;
  #lineBytes = 0;
  #remaining = 0;
  #trailer: Buffer[] = [];
  #trailerBytes = 0;
  /** The trailer fields of the message just decoded (offsets into `trailerSection`). */
  readonly trailers: Fields;
  /** The trailer section's bytes, CRLF-terminated lines and the final CRLF; empty without trailers. */
  trailerSection: Buffer = EMPTY;

  constructor(
    readonly maxTrailerBytes: number,
    maxTrailers: number,
  ) {
    this.trailers = new Fields(maxTrailers);
  }

  /** Ready for the next message. */
  reset(): void {
    this.#state = S.Size;
    this.#digits = 0;
    this.#size = 0;
    this.#lineBytes = 0;
    this.#trailer = [];
    this.#trailerBytes = 0;
    this.trailers.count = 0;
    this.trailerSection = EMPTY;
  }

  /** The whole message, trailers included, has been decoded. */
  get done(): boolean {
    return this.#state === S.Done;
  }

  /**
   * Decodes buf[start, end), handing body bytes to `sink`. Returns the index just past the end of
   * the message (what follows is the next message), -1 when every byte was used and more are
   * needed, or why the coding is refused. When the sink returns false, returns the index to resume
   * from instead (`done` is then false; -1 if that is `end`).
   */
  decode(buf: Buffer, start: number, end: number, sink: DataSink): number | ParseError {
    let p = start;
    while (p < end) {
      const c = buf[p]!;
      switch (this.#state) {
        case S.Size:
        case S.SizeMore: {
          const d = HEX[c]!;
          if (d >= 0) {
            if (++this.#digits > MAX_SIZE_DIGITS) return E.CHUNK_SIZE;
            this.#size = this.#size * 16 + d;
            this.#state = S.SizeMore;
          } else if (this.#state === S.Size) {
            return E.CHUNK_SIZE;
          } else if (c === 0x3b /* ; */) {
            this.#state = S.ExtName;
          } else if (c === CR) {
            this.#state = S.SizeLf;
          } else {
            return E.CHUNK_SIZE;
          }
          p++;
          break;
        }
        case S.ExtName:
        case S.ExtNameMore:
        case S.ExtValue:
        case S.ExtToken:
        case S.ExtQuoted:
        case S.ExtQuotedPair:
        case S.ExtAfterQuoted:
          if (++this.#lineBytes > MAX_SIZE_LINE) return E.CHUNK_EXTENSION;
          if (!this.#extension(c)) return E.CHUNK_EXTENSION;
          p++;
          break;
        case S.SizeLf:
          if (c !== LF) return E.CHUNK_SIZE;
          p++;
          this.#digits = 0;
          this.#lineBytes = 0;
          if (this.#size === 0) {
            this.#state = S.TrailerLineStart;
          } else {
            this.#remaining = this.#size;
            this.#size = 0;
            this.#state = S.Data;
          }
          break;
        case S.Data: {
          const n = Math.min(this.#remaining, end - p);
          const more = sink(buf, p, p + n);
          p += n;
          this.#remaining -= n;
          if (this.#remaining === 0) this.#state = S.DataCr;
          if (more === false) return p === end ? -1 : p;
          break;
        }
        case S.DataCr:
          if (c !== CR) return E.CHUNK_END;
          this.#state = S.DataLf;
          p++;
          break;
        case S.DataLf:
          if (c !== LF) return E.CHUNK_END;
          this.#state = S.Size;
          p++;
          break;
        case S.TrailerLineStart:
          this.#state = c === CR ? S.TrailerEndLf : S.TrailerLine;
          if (c === CR) p++;
          break;
        case S.TrailerLine: {
          // Copy up to the line's CR; the line is checked as a whole once the section is complete.
          let q = p;
          while (q < end && buf[q] !== CR) {
            if (buf[q] === LF) return E.TRAILER;
            q++;
          }
          if (!this.#keepTrailer(buf, p, q === end ? q : q + 1)) return E.TRAILER_TOO_LARGE;
          if (q < end) this.#state = S.TrailerLineLf;
          p = q === end ? q : q + 1;
          break;
        }
        case S.TrailerLineLf:
          if (c !== LF) return E.TRAILER;
          if (!this.#keepTrailer(buf, p, p + 1)) return E.TRAILER_TOO_LARGE;
          this.#state = S.TrailerLineStart;
          p++;
          break;
        case S.TrailerEndLf: {
          if (c !== LF) return E.TRAILER;
          p++;
          if (this.#trailerBytes > 0) {
            const section = Buffer.concat([...this.#trailer, CRLF], this.#trailerBytes + 2);
            if (scanFields(section, 0, section.length, this.trailers) !== null || framesOrRoutes(section, this.trailers)) return E.TRAILER;
            this.trailerSection = section;
          }
          this.#state = S.Done;
          return p;
        }
        case S.Done:
          return p;
      }
    }
    return this.#state === S.Done ? p : -1;
  }

  /** One byte of a chunk extension: `*( ";" token [ "=" ( token / quoted-string ) ] )` then CR. */
  #extension(c: number): boolean {
    switch (this.#state) {
      case S.ExtName:
        if (TCHAR[c] !== 1) return false;
        this.#state = S.ExtNameMore;
        return true;
      case S.ExtNameMore:
      case S.ExtToken:
        if (TCHAR[c] === 1) return true;
        if (c === 0x3d /* = */ && this.#state === S.ExtNameMore) this.#state = S.ExtValue;
        else return this.#extensionEnd(c);
        return true;
      case S.ExtValue:
        if (c === 0x22 /* " */) this.#state = S.ExtQuoted;
        else if (TCHAR[c] === 1) this.#state = S.ExtToken;
        else return false;
        return true;
      case S.ExtQuoted:
        if (c === 0x22) this.#state = S.ExtAfterQuoted;
        else if (c === 0x5c /* \ */) this.#state = S.ExtQuotedPair;
        else return QDTEXT[c] === 1;
        return true;
      case S.ExtQuotedPair:
        // quoted-pair = "\" ( HTAB / SP / VCHAR / obs-text )
        if (c !== 0x09 && (c < 0x20 || c === 0x7f)) return false;
        this.#state = S.ExtQuoted;
        return true;
      case S.ExtAfterQuoted:
        return this.#extensionEnd(c);
      default:
        return false;
    }
  }

  /** After an extension: another one, or the end of the size line. */
  #extensionEnd(c: number): boolean {
    if (c === 0x3b) this.#state = S.ExtName;
    else if (c === CR) this.#state = S.SizeLf;
    else return false;
    return true;
  }

  #keepTrailer(buf: Buffer, start: number, end: number): boolean {
    this.#trailerBytes += end - start;
    if (this.#trailerBytes > this.maxTrailerBytes) return false;
    this.#trailer.push(Buffer.from(buf.subarray(start, end))); // a copy: the read buffer is not ours to keep
    return true;
  }
}

const CRLF = Buffer.from('\r\n');

/**
 * A trailer field that would change how the message is framed, routed or how the connection is
 * managed (RFC 9110 §6.5.1: a sender must not put them there; llhttp refuses Content-Length and
 * obeys a trailing `Connection: close`). They are refused, not dropped.
 */
function framesOrRoutes(section: Buffer, fields: Fields): boolean {
  for (let i = 0; i < fields.count; i++) {
    const s = fields.nameStart(i);
    const e = fields.nameEnd(i);
    if (equalsLower(section, s, e, 'content-length') || equalsLower(section, s, e, 'transfer-encoding') || equalsLower(section, s, e, 'host') || equalsLower(section, s, e, 'connection')) return true;
  }
  return false;
}
