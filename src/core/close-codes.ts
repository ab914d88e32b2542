/**
 * Close codes of RFC 6455 §7.4 and the IANA "WebSocket Close Code Number Registry".
 */
export const CloseCode = {
  NORMAL: 1000,
  GOING_AWAY: 1001,
  PROTOCOL_ERROR: 1002,
  UNSUPPORTED_DATA: 1003,
  /** Reserved: never on the wire; reported when a close frame had no code. */
  NO_STATUS: 1005,
  /** Reserved: never on the wire; reported when the connection ended without a close. */
  ABNORMAL: 1006,
  INVALID_PAYLOAD: 1007,
  POLICY_VIOLATION: 1008,
  MESSAGE_TOO_BIG: 1009,
  MANDATORY_EXTENSION: 1010,
  INTERNAL_ERROR: 1011,
  SERVICE_RESTART: 1012,
  TRY_AGAIN_LATER: 1013,
  BAD_GATEWAY: 1014,
  /** Reserved: never on the wire; a TLS handshake failure. */
  TLS_HANDSHAKE: 1015,
} as const;

/**
 * May this code appear in a close frame on the wire?
 * 1000-1003 and 1007-1014 are defined for use; 1004, 1005, 1006 and 1015 are reserved
 * and never sent; 1016-2999 are reserved for future RFCs and unassigned; 3000-4999 are
 * for libraries, frameworks and applications. Everything else is invalid.
 */
export function isValidWireCloseCode(code: number): boolean {
  if (code >= 1000 && code <= 1003) return true;
  if (code >= 1007 && code <= 1014) return true;
  return code >= 3000 && code <= 4999;
}

/**
 * May user code ask to close with this code? The same set as the wire: the reserved
 * codes describe what happened, they are not something one sends.
 */
export const isValidUserCloseCode = isValidWireCloseCode;
