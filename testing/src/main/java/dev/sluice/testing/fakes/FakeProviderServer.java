package dev.sluice.testing.fakes;

import java.time.Duration;
import java.util.List;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * What every fake provider server offers: its address, the requests it received, and its
 * connection and flow-control counters. Subclasses speak one provider's protocol.
 */
public abstract class FakeProviderServer implements AutoCloseable {
  final ScriptedHttpServer server;
  private final boolean tls;
  private final AtomicInteger taken = new AtomicInteger();

  FakeProviderServer(ScriptedHttpServer server, boolean tls) {
    this.server = server;
    this.tls = tls;
  }

  /** The port on 127.0.0.1. */
  public int port() {
    return server.port();
  }

  /** {@code http://127.0.0.1:<port>} (or https), without a path. */
  public String origin() {
    return (tls ? "https" : "http") + "://127.0.0.1:" + port();
  }

  /** The base URL to configure a backend of this provider with. */
  public abstract String baseUrl();

  /** Every request received so far, in arrival order. */
  public List<RecordedRequest> requests() {
    return server.requests();
  }

  /**
   * The next request not returned by this method before, waiting up to 5 seconds for it to
   * arrive.
   */
  public RecordedRequest takeRequest() {
    return server.takeRequest(taken.getAndIncrement(), Duration.ofSeconds(5));
  }

  /** Connections accepted since start. */
  public int connectionsOpened() {
    return server.connectionsOpened();
  }

  /** Connections closed since start (by either side). */
  public int connectionsClosed() {
    return server.connectionsClosed();
  }

  /** Connections open now. */
  public int openConnections() {
    return server.connectionsOpened() - server.connectionsClosed();
  }

  /** Waits until exactly {@code expected} connections are open, or fails after {@code timeout}. */
  public void awaitOpenConnections(int expected, Duration timeout) {
    ScriptedHttpServer.awaitCondition(
        () -> openConnections() == expected,
        timeout,
        expected + " open connections (now " + openConnections() + ")");
  }

  /**
   * How often a streamed body had to wait because the connection was not writable: the client
   * stopped reading and the TCP and socket buffers filled up.
   */
  public int writeStalls() {
    return server.stalls();
  }

  /** Waits until some stream stalled on flow control, or fails after {@code timeout}. */
  public void awaitWriteStall(Duration timeout) {
    ScriptedHttpServer.awaitCondition(() -> server.stalls() > 0, timeout, "a stalled write");
  }

  /** HTTP chunks written to streamed bodies since start. */
  public long chunksWritten() {
    return server.chunksWritten();
  }

  /**
   * Streamed responses whose connection or HTTP/2 stream closed before they ended: the client
   * cancelled them (or the script reset them). With HTTP/2 this is how a test sees an {@code
   * RST_STREAM} from the client, since the connection stays open.
   */
  public int abortedResponses() {
    return server.abortedResponses();
  }

  /** Waits until at least {@code expected} responses were aborted, or fails after {@code timeout}. */
  public void awaitAbortedResponses(int expected, Duration timeout) {
    ScriptedHttpServer.awaitCondition(
        () -> server.abortedResponses() >= expected,
        timeout,
        expected + " aborted responses (now " + server.abortedResponses() + ")");
  }

  /** Stops the server and its event loop. */
  @Override
  public void close() {
    server.close();
  }
}
