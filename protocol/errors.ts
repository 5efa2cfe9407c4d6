/** Why a byte string was refused by a strict decoder. */
export type DecodeErrorCode = 'oversize' | 'malformed' | 'noncanonical' | 'version' | 'field'

/** The only error a decoder throws on bad input: callers can tell hostile bytes from bugs. */
export class DecodeError extends Error {
  override name = 'DecodeError'
  constructor(
    readonly code: DecodeErrorCode,
    message: string,
  ) {
    super(message)
  }
}

/** A network definition that does not validate; `field` is the JSON path of the first bad field. */
export class NetworkDefinitionError extends Error {
  override name = 'NetworkDefinitionError'
  constructor(
    readonly field: string,
    readonly expected: string,
  ) {
    super(`${field}: ${expected}`)
  }
}
