package dev.sluice.dataplane.server;

import static java.util.Objects.requireNonNull;

import dev.sluice.dataplane.auth.Caller;
import dev.sluice.dataplane.config.RuntimeConfig;
import dev.sluice.dataplane.routing.RequestHeaders;
import io.grpc.Context;
import io.grpc.Deadline;
import org.jspecify.annotations.Nullable;

/**
 * What the gateway knows about a call before reading its message: the config it is served from
 * (read once, so the whole call sees one config version), the authenticated caller, the request
 * metadata and the client's deadline.
 */
record CallContext(
    RuntimeConfig config, Caller caller, RequestHeaders headers, @Nullable Deadline deadline) {
  /** Where {@link AuthInterceptor} puts the call's context for the service. */
  static final Context.Key<CallContext> KEY = Context.key("sluice.call");

  CallContext {
    requireNonNull(config, "config");
    requireNonNull(caller, "caller");
    requireNonNull(headers, "headers");
  }

  /** The context of the current call. */
  static CallContext current() {
    CallContext call = KEY.get();
    if (call == null) {
      throw new IllegalStateException("no CallContext: is AuthInterceptor installed?");
    }
    return call;
  }
}
