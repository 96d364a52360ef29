package dev.sluice.bench.upstream;

import static java.nio.charset.StandardCharsets.US_ASCII;

import io.netty.buffer.ByteBuf;
import io.netty.channel.ChannelFutureListener;
import io.netty.channel.ChannelHandlerContext;
import io.netty.handler.codec.http.DefaultHttpContent;
import io.netty.handler.codec.http.LastHttpContent;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import org.jspecify.annotations.Nullable;

/**
 * Writes one chat-completions SSE stream the way OpenAI does: a role chunk, one chunk per token
 * ({@code "content":"t<i> "}), a finish chunk, an optional usage chunk, then {@code data: [DONE]}.
 *
 * <p>Without a delay, tokens go out in a burst, several events per HTTP chunk, for as long as the
 * socket is writable (then it waits for {@code channelWritabilityChanged}): a slow reader slows the
 * stream down instead of filling memory. With a delay, each token is its own chunk, written and
 * flushed {@code delay} after the previous one (the first too), like a model producing tokens one
 * by one. Confined to the connection's event loop.
 */
final class SseStream {
  private static final byte[] ROLE =
      "{\"role\":\"assistant\",\"content\":\"\"},\"finish_reason\":null}]}\n\n".getBytes(US_ASCII);
  private static final byte[] TOKEN_OPEN = "{\"content\":\"t".getBytes(US_ASCII);
  private static final byte[] TOKEN_CLOSE = " \"},\"finish_reason\":null}]}\n\n".getBytes(US_ASCII);
  private static final byte[] FINISH = "{},\"finish_reason\":\"stop\"}]}\n\n".getBytes(US_ASCII);
  private static final byte[] DONE = "data: [DONE]\n\n".getBytes(US_ASCII);

  /** Bytes gathered into one HTTP chunk in burst mode. */
  private static final int BURST_CHUNK = 16 * 1024;

  private final ChannelHandlerContext ctx;
  private final byte[] prefix;
  private final byte[] usageEvent;
  private final int tokens;
  private final long delayNanos;
  private final boolean keepAlive;
  private final Runnable onEnd;
  private int next;
  private boolean ended;
  private @Nullable Future<?> timer;

  SseStream(
      ChannelHandlerContext ctx,
      byte[] prefix,
      byte[] usageEvent,
      int tokens,
      long delayNanos,
      boolean keepAlive,
      Runnable onEnd) {
    this.ctx = ctx;
    this.prefix = prefix;
    this.usageEvent = usageEvent;
    this.tokens = tokens;
    this.delayNanos = delayNanos;
    this.keepAlive = keepAlive;
    this.onEnd = onEnd;
  }

  void start() {
    ByteBuf b = ctx.alloc().buffer(2 * prefix.length + ROLE.length + 64);
    b.writeBytes(prefix).writeBytes(ROLE);
    if (delayNanos == 0 && tokens > 0) {
      // A burst starts with the role chunk and the first token flushed together, as providers
      // send them once prefill is done; the rest follows as fast as the socket takes it.
      writeToken(b, next++);
    }
    ctx.writeAndFlush(new DefaultHttpContent(b), ctx.voidPromise());
    if (delayNanos > 0) {
      schedule();
    } else {
      burst();
    }
  }

  /** The socket became writable again. */
  void resume() {
    if (!ended && delayNanos == 0) {
      burst();
    }
  }

  /** The connection closed: stop writing. */
  void cancel() {
    ended = true;
    Future<?> t = timer;
    if (t != null) {
      t.cancel(false);
    }
  }

  private void burst() {
    while (next < tokens && ctx.channel().isWritable()) {
      ByteBuf b = ctx.alloc().buffer(BURST_CHUNK + 256);
      while (next < tokens && b.readableBytes() < BURST_CHUNK) {
        writeToken(b, next++);
      }
      ctx.write(new DefaultHttpContent(b), ctx.voidPromise());
    }
    ctx.flush();
    if (next >= tokens) {
      finish();
    }
  }

  private void schedule() {
    timer = ctx.executor().schedule(this::tick, delayNanos, TimeUnit.NANOSECONDS);
  }

  private void tick() {
    if (ended || !ctx.channel().isActive()) {
      return;
    }
    ByteBuf b = ctx.alloc().buffer(prefix.length + 64);
    writeToken(b, next++);
    ctx.writeAndFlush(new DefaultHttpContent(b), ctx.voidPromise());
    if (next < tokens) {
      schedule();
    } else {
      finish();
    }
  }

  private void writeToken(ByteBuf b, int i) {
    b.writeBytes(prefix).writeBytes(TOKEN_OPEN);
    b.writeCharSequence(Integer.toString(i), US_ASCII);
    b.writeBytes(TOKEN_CLOSE);
  }

  private void finish() {
    if (ended) {
      return;
    }
    ended = true;
    ByteBuf b = ctx.alloc().buffer(prefix.length * 2 + usageEvent.length + 64);
    b.writeBytes(prefix).writeBytes(FINISH).writeBytes(usageEvent).writeBytes(DONE);
    ctx.write(new DefaultHttpContent(b), ctx.voidPromise());
    onEnd.run();
    if (keepAlive) {
      ctx.writeAndFlush(LastHttpContent.EMPTY_LAST_CONTENT, ctx.voidPromise());
    } else {
      ctx.writeAndFlush(LastHttpContent.EMPTY_LAST_CONTENT)
          .addListener(ChannelFutureListener.CLOSE);
    }
  }
}
