import { generateKeyPair } from '@libp2p/crypto/keys'
import type {
  AbortOptions,
  ComponentLogger,
  MessageStream,
  PeerId,
  PrivateKey,
  Stream,
  StreamCloseEvent,
  StreamMessageEvent,
  Upgrader,
} from '@libp2p/interface'
import { noise } from '@libp2p/noise'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { AbstractMessageStream, type SendResult } from '@libp2p/utils'
import type { Uint8ArrayList } from 'uint8arraylist'
import type { DuplexSource } from './stream-duplex.ts'
import { exitChannelPrologue } from './wire.ts'

// The end-to-end channel between a client and the second relay of its circuit, through the first relay's
// tunnel: libp2p's own Noise (XX) over the tunnel stream. The relay authenticates with its libp2p key,
// so the client, which pins the relay's PeerId, talks to that relay or to no one. The client
// authenticates with a key made for this channel alone, so the relay learns nothing that links the
// circuit to the client's libp2p identity.

/** Noise consults the upgrader only to negotiate a stream muxer early, which these channels skip. */
const NO_UPGRADER = {} as Upgrader
const CHANNEL = { skipStreamMuxerNegotiation: true }

/** The client's side: a channel to `relay`, whose identity the handshake must prove. */
export async function openExitChannel(
  stream: Stream,
  relay: PeerId,
  networkId: string,
  logger: ComponentLogger,
  options: AbortOptions = {},
): Promise<DuplexSource> {
  const privateKey = await generateKeyPair('Ed25519')
  const secured = await encrypter(privateKey, networkId, logger).secureOutbound(handedOver(stream), {
    ...options,
    ...CHANNEL,
    remotePeer: relay,
  })
  return secured.connection as DuplexSource
}

/** The second relay's side: answers a client's channel with the relay's own key. */
export async function acceptExitChannel(
  stream: Stream,
  privateKey: PrivateKey,
  networkId: string,
  logger: ComponentLogger,
  options: AbortOptions = {},
): Promise<DuplexSource> {
  const secured = await encrypter(privateKey, networkId, logger).secureInbound(handedOver(stream), {
    ...options,
    ...CHANNEL,
  })
  return secured.connection as DuplexSource
}

function encrypter(privateKey: PrivateKey, networkId: string, logger: ComponentLogger) {
  return noise({ prologueBytes: exitChannelPrologue(networkId) })({
    peerId: peerIdFromPrivateKey(privateKey),
    privateKey,
    logger,
    upgrader: NO_UPGRADER,
  })
}

/**
 * The tunnel stream as Noise's encrypted stream should see it. Noise treats the stream's remote close as
 * the end of the data, but a paused yamux stream announces the remote close while it still holds
 * unread frames, and the encrypted stream then drops them. This view announces the close only at the
 * stream's 'end', once every byte before it was handed over. Bytes the handshake reader left unread are
 * back in the stream's buffer (LengthPrefixedStream.unwrap), and reach the view when it starts listening.
 */
function handedOver(stream: Stream): MessageStream {
  return new HandedOverStream(stream)
}

class HandedOverStream extends AbstractMessageStream {
  constructor(private readonly stream: Stream) {
    super({
      log: stream.log,
      direction: stream.direction,
      inactivityTimeout: stream.inactivityTimeout,
      maxReadBufferLength: stream.maxReadBufferLength,
    })
    stream.addEventListener('message', (evt: StreamMessageEvent) => this.onData(evt.data))
    stream.addEventListener('end', () => this.onRemoteCloseWrite())
    stream.addEventListener('drain', () => this.onMuxerDrain())
    stream.addEventListener('close', (evt: StreamCloseEvent) => {
      if (evt.error !== undefined) {
        if (evt.local === true) this.abort(evt.error)
        else this.onRemoteReset()
      } else if (stream.readableEnded) this.onTransportClosed()
      // closed both ways with frames still unread: those come first
      else stream.addEventListener('end', () => this.onTransportClosed(), { once: true })
    })
  }

  async close(options?: AbortOptions): Promise<void> {
    await this.stream.close(options)
  }

  sendData(data: Uint8ArrayList): SendResult {
    return { sentBytes: data.byteLength, canSendMore: this.stream.send(data) }
  }

  sendReset(err: Error): void {
    this.stream.abort(err)
  }

  sendPause(): void {
    this.stream.pause()
  }

  sendResume(): void {
    this.stream.resume()
  }
}
