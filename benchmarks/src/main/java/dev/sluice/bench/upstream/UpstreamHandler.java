package dev.sluice.bench.upstream;

import static java.nio.charset.StandardCharsets.US_ASCII;
import static java.nio.charset.StandardCharsets.UTF_8;

import com.fasterxml.jackson.core.io.JsonStringEncoder;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.ByteBufInputStream;
import io.netty.buffer.Unpooled;
import io.netty.channel.ChannelFutureListener;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.SimpleChannelInboundHandler;
import io.netty.handler.codec.http.DefaultFullHttpResponse;
import io.netty.handler.codec.http.DefaultHttpResponse;
import io.netty.handler.codec.http.FullHttpRequest;
import io.netty.handler.codec.http.FullHttpResponse;
import io.netty.handler.codec.http.HttpHeaderNames;
import io.netty.handler.codec.http.HttpHeaderValues;
import io.netty.handler.codec.http.HttpMethod;
import io.netty.handler.codec.http.HttpResponse;
import io.netty.handler.codec.http.HttpResponseStatus;
import io.netty.handler.codec.http.HttpUtil;
import io.netty.handler.codec.http.HttpVersion;
import java.io.IOException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import org.jspecify.annotations.Nullable;

/**
 * Serves one connection: parses each request's path and the few body fields it needs, then answers
 * from pre-encoded bytes. SSE streams are written by {@link SseStream}; while one is open the
 * connection serves nothing else (HTTP/1.1 clients do not pipeline).
 */
final class UpstreamHandler extends SimpleChannelInboundHandler<FullHttpRequest> {
  private static final AtomicLong IDS = new AtomicLong();
  private static final byte[] HEALTH = "{\"ok\":true}".getBytes(US_ASCII);
  private static final byte[] MODELS =
      ("{\"object\":\"list\",\"data\":[{\"id\":\"mock-model\",\"object\":\"model\","
              + "\"created\":0,\"owned_by\":\"sluice-bench\"}]}")
          .getBytes(US_ASCII);

  private final FakeUpstream.Settings settings;
  private @Nullable SseStream stream;

  UpstreamHandler(FakeUpstream.Settings settings) {
    this.settings = settings;
  }

  @Override
  protected void channelRead0(ChannelHandlerContext ctx, FullHttpRequest req) {
    if (stream != null) {
      ctx.close(); // a pipelined request during a stream: not something a real client does
      return;
    }
    boolean keepAlive = HttpUtil.isKeepAlive(req);
    String path = req.uri();
    int q = path.indexOf('?');
    if (q >= 0) {
      path = path.substring(0, q);
    }
    long delayMillis = settings.tokenDelayMillis();
    // "/d/{ms}/v1/..." selects the per-token delay by URL, so that a gateway can be configured with
    // paced and unpaced backends on one upstream (it forwards no client headers upstream).
    if (path.startsWith("/d/")) {
      int slash = path.indexOf('/', 3);
      if (slash > 3) {
        try {
          delayMillis = Long.parseLong(path.substring(3, slash));
          path = path.substring(slash);
        } catch (NumberFormatException e) {
          // not a delay prefix; the path then matches nothing
        }
      }
    }
    String header = req.headers().get("x-mock-delay-ms");
    if (header != null) {
      try {
        delayMillis = Long.parseLong(header.trim());
      } catch (NumberFormatException e) {
        // ignored: keep the configured delay
      }
    }
    if (req.method().equals(HttpMethod.GET) && path.equals("/health")) {
      json(ctx, HttpResponseStatus.OK, Unpooled.wrappedBuffer(HEALTH), keepAlive);
    } else if (req.method().equals(HttpMethod.GET) && path.endsWith("/models")) {
      json(ctx, HttpResponseStatus.OK, Unpooled.wrappedBuffer(MODELS), keepAlive);
    } else if (req.method().equals(HttpMethod.POST) && path.endsWith("/chat/completions")) {
      ParsedRequest r = parse(ctx, req, keepAlive);
      if (r != null) {
        chat(ctx, req, r, delayMillis, keepAlive);
      }
    } else if (req.method().equals(HttpMethod.POST) && path.endsWith("/embeddings")) {
      ParsedRequest r = parse(ctx, req, keepAlive);
      if (r != null) {
        embeddings(ctx, req, r, keepAlive);
      }
    } else {
      error(ctx, HttpResponseStatus.NOT_FOUND, "not found", keepAlive);
    }
  }

  private @Nullable ParsedRequest parse(
      ChannelHandlerContext ctx, FullHttpRequest req, boolean keepAlive) {
    try {
      return ParsedRequest.parse(new ByteBufInputStream(req.content().duplicate()));
    } catch (IOException e) {
      error(ctx, HttpResponseStatus.BAD_REQUEST, "invalid JSON body", keepAlive);
      return null;
    }
  }

  private void chat(
      ChannelHandlerContext ctx,
      FullHttpRequest req,
      ParsedRequest r,
      long delayMillis,
      boolean keepAlive) {
    int n = r.maxTokens() > 0 ? r.maxTokens() : settings.defaultTokens();
    int prompt = Math.max(1, req.content().readableBytes() / 4);
    String id = "chatcmpl-bench" + IDS.incrementAndGet();
    long created = System.currentTimeMillis() / 1000;
    String model = new String(JsonStringEncoder.getInstance().quoteAsString(r.model()));
    String usage =
        "{\"prompt_tokens\":"
            + prompt
            + ",\"completion_tokens\":"
            + n
            + ",\"total_tokens\":"
            + (prompt + n)
            + "}";
    if (!r.stream()) {
      StringBuilder sb = new StringBuilder(256 + 4 * n);
      sb.append("{\"id\":\"")
          .append(id)
          .append("\",\"object\":\"chat.completion\",\"created\":")
          .append(created);
      sb.append(",\"model\":\"")
          .append(model)
          .append(
              "\",\"choices\":[{\"index\":0,\"message\":{\"role\":\"assistant\",\"content\":\"");
      sb.append(settings.content(n));
      sb.append("\"},\"finish_reason\":\"stop\"}],\"usage\":").append(usage).append('}');
      json(
          ctx,
          HttpResponseStatus.OK,
          Unpooled.wrappedBuffer(sb.toString().getBytes(UTF_8)),
          keepAlive);
      return;
    }
    HttpResponse head = new DefaultHttpResponse(HttpVersion.HTTP_1_1, HttpResponseStatus.OK);
    head.headers()
        .set(HttpHeaderNames.CONTENT_TYPE, "text/event-stream")
        .set(HttpHeaderNames.CACHE_CONTROL, HttpHeaderValues.NO_CACHE)
        .set(HttpHeaderNames.TRANSFER_ENCODING, HttpHeaderValues.CHUNKED);
    if (!keepAlive) {
      head.headers().set(HttpHeaderNames.CONNECTION, HttpHeaderValues.CLOSE);
    }
    byte[] prefix =
        ("data: {\"id\":\""
                + id
                + "\",\"object\":\"chat.completion.chunk\",\"created\":"
                + created
                + ",\"model\":\""
                + model
                + "\",\"choices\":[{\"index\":0,\"delta\":")
            .getBytes(UTF_8);
    byte[] usageEvent =
        r.includeUsage()
            ? ("data: {\"id\":\""
                    + id
                    + "\",\"object\":\"chat.completion.chunk\",\"created\":"
                    + created
                    + ",\"model\":\""
                    + model
                    + "\",\"choices\":[],\"usage\":"
                    + usage
                    + "}\n\n")
                .getBytes(UTF_8)
            : new byte[0];
    ctx.write(head);
    SseStream s =
        new SseStream(
            ctx,
            prefix,
            usageEvent,
            n,
            TimeUnit.MILLISECONDS.toNanos(delayMillis),
            keepAlive,
            this::streamEnded);
    stream = s;
    s.start();
  }

  private void streamEnded() {
    stream = null;
  }

  private void embeddings(
      ChannelHandlerContext ctx, FullHttpRequest req, ParsedRequest r, boolean keepAlive) {
    byte[] vector = settings.embedding();
    int inputs = Math.max(1, r.inputs());
    int tokens = Math.max(1, req.content().readableBytes() / 4);
    String model = new String(JsonStringEncoder.getInstance().quoteAsString(r.model()));
    ByteBuf buf = ctx.alloc().buffer(inputs * (vector.length + 64) + 256);
    buf.writeCharSequence("{\"object\":\"list\",\"data\":[", US_ASCII);
    for (int i = 0; i < inputs; i++) {
      buf.writeCharSequence(
          (i > 0 ? "," : "") + "{\"object\":\"embedding\",\"index\":" + i + ",\"embedding\":",
          US_ASCII);
      buf.writeBytes(vector);
      buf.writeByte('}');
    }
    buf.writeCharSequence("],\"model\":\"", US_ASCII);
    buf.writeCharSequence(model, UTF_8);
    buf.writeCharSequence(
        "\",\"usage\":{\"prompt_tokens\":" + tokens + ",\"total_tokens\":" + tokens + "}}",
        US_ASCII);
    json(ctx, HttpResponseStatus.OK, buf, keepAlive);
  }

  private static void error(
      ChannelHandlerContext ctx, HttpResponseStatus status, String message, boolean keepAlive) {
    String body =
        "{\"error\":{\"message\":\""
            + message
            + "\",\"type\":\"invalid_request_error\",\"param\":null,\"code\":null}}";
    json(ctx, status, Unpooled.wrappedBuffer(body.getBytes(US_ASCII)), keepAlive);
  }

  private static void json(
      ChannelHandlerContext ctx, HttpResponseStatus status, ByteBuf body, boolean keepAlive) {
    FullHttpResponse res = new DefaultFullHttpResponse(HttpVersion.HTTP_1_1, status, body);
    res.headers()
        .set(HttpHeaderNames.CONTENT_TYPE, HttpHeaderValues.APPLICATION_JSON)
        .setInt(HttpHeaderNames.CONTENT_LENGTH, body.readableBytes());
    if (!keepAlive) {
      res.headers().set(HttpHeaderNames.CONNECTION, HttpHeaderValues.CLOSE);
      ctx.writeAndFlush(res).addListener(ChannelFutureListener.CLOSE);
    } else {
      ctx.writeAndFlush(res, ctx.voidPromise());
    }
  }

  @Override
  public void channelWritabilityChanged(ChannelHandlerContext ctx) {
    SseStream s = stream;
    if (s != null && ctx.channel().isWritable()) {
      s.resume();
    }
    ctx.fireChannelWritabilityChanged();
  }

  @Override
  public void channelInactive(ChannelHandlerContext ctx) {
    SseStream s = stream;
    stream = null;
    if (s != null) {
      s.cancel();
    }
    ctx.fireChannelInactive();
  }

  @Override
  public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
    ctx.close();
  }
}
