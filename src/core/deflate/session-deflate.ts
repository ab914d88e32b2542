/**
 * permessage-deflate (RFC 7692) on one WebSocket session: what the handshake agreed, how
 * it is tuned, both zlib ends, their byte counts, and where the compressed message in
 * each direction stands. A session without permessage-deflate holds none of it: one
 * null field instead of a dozen.
 */
import { usage } from "../errors.js";
import { MessageDeflater } from "./message-deflater.js";
import { MessageInflater } from "./message-inflater.js";
import { nativeZlibAvailable, type ZlibSettings } from "./native-zlib.js";
import type { DeflateSessionConfig } from "./negotiator.js";
import { checkTuning, defaultTuning, definedTuning, type DeflateTuning } from "./options.js";
import type { DeflateAgreement } from "./params.js";

/** Byte counts of permessage-deflate on one session. */
export interface DeflateStats {
  /** Messages sent compressed, their bytes before and after compression. */
  sent: { messages: number; plainBytes: number; compressedBytes: number };
  /**
   * Compressed messages received whole, the compressed bytes fed to the inflater and
   * every byte it produced (also of a message refused as too large or invalid).
   */
  received: { messages: number; compressedBytes: number; inflatedBytes: number };
}

/** permessage-deflate as it stands on a session. */
export interface DeflateState {
  agreement: DeflateAgreement;
  tuning: DeflateTuning;
  /** Does the session hold zlib memory right now (compressor, inflater)? */
  holds: { deflater: boolean; inflater: boolean };
  stats: DeflateStats;
}

/** The session's permessage-deflate state; WsSession drives it. */
export class SessionDeflate {
  readonly agreement: DeflateAgreement;
  tuning: Readonly<DeflateTuning>;
  readonly deflater: MessageDeflater;
  readonly inflater: MessageInflater;
  readonly stats: DeflateStats = {
    sent: { messages: 0, plainBytes: 0, compressedBytes: 0 },
    received: { messages: 0, compressedBytes: 0, inflatedBytes: 0 },
  };

  /** The message being sent is compressed. */
  sending = false;
  /** The message being received is compressed. */
  receiving = false;
  /** Compressed bytes of the message being received so far. */
  compressedInMessage = 0;
  /** The tail is queued: the message ends when the inflater runs dry. */
  messageEnding = false;
  /** Compressed payload of the current frame still to come, for fragment delivery. */
  frameRemaining = 0;
  /**
   * Inflation stopped before its input was used up (the per-call bound, or a pause in an
   * event); nothing more is parsed until it has caught up.
   */
  backlog = false;
  /** Inflated bytes the current receive() call may still produce. */
  rxBudget = 0;

  constructor(
    private readonly role: "server" | "client",
    config: DeflateSessionConfig,
  ) {
    if (!nativeZlibAvailable()) {
      throw usage("INVALID_STATE", "permessage-deflate needs synchronous zlib streams, which this Node does not offer");
    }
    const tuning = definedTuning(config.tuning);
    checkTuning(tuning);
    this.tuning = { ...defaultTuning, ...tuning };
    const a = { ...config.agreement };
    this.agreement = a;
    const server = role === "server";
    this.deflater = new MessageDeflater(this.deflaterSettings(), !(server ? a.serverNoContextTakeover : a.clientNoContextTakeover));
    // The peer's window, but at least 9: zlib deflaters asked for 8 compress with 9 (whose
    // matches reach back at most 250 bytes), and 256 more bytes read both.
    const peerBits = server ? a.clientMaxWindowBits : a.serverMaxWindowBits;
    this.inflater = new MessageInflater(
      { windowBits: Math.max(9, peerBits), level: 0, memLevel: 8, strategy: 0 },
      !(server ? a.clientNoContextTakeover : a.serverNoContextTakeover),
    );
  }

  /** A copy of the state, for WsSession.deflate. */
  get state(): DeflateState {
    return {
      agreement: { ...this.agreement },
      tuning: { ...this.tuning },
      holds: { deflater: this.deflater.holdsMemory, inflater: this.inflater.holdsMemory },
      stats: { sent: { ...this.stats.sent }, received: { ...this.stats.received } },
    };
  }

  /**
   * New tuning: level, memLevel and windowBits apply from the next message on (it starts
   * a fresh compression context, which a sender may always do); threshold and
   * inflateChunk at once.
   */
  retune(tuning: Partial<DeflateTuning>): void {
    const update = definedTuning(tuning);
    checkTuning(update);
    const before = this.deflaterSettings();
    this.tuning = { ...this.tuning, ...update };
    const after = this.deflaterSettings();
    if (before.level !== after.level || before.memLevel !== after.memLevel || before.windowBits !== after.windowBits) {
      this.deflater.reconfigure(after);
    }
  }

  /** Free the zlib memory of both ends. */
  release(): void {
    this.deflater.release();
    this.inflater.release();
  }

  private deflaterSettings(): ZlibSettings {
    const a = this.agreement;
    const agreed = this.role === "server" ? a.serverMaxWindowBits : a.clientMaxWindowBits;
    return {
      windowBits: Math.min(agreed, this.tuning.windowBits),
      level: this.tuning.level,
      memLevel: this.tuning.memLevel,
      strategy: 0,
    };
  }
}
