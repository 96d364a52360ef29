package dev.sluice.controlplane.quota;

import static java.util.Objects.requireNonNull;

import com.google.common.annotations.VisibleForTesting;
import com.google.common.util.concurrent.FutureCallback;
import com.google.common.util.concurrent.Futures;
import com.google.common.util.concurrent.ListenableFuture;
import com.google.common.util.concurrent.MoreExecutors;
import com.google.errorprone.annotations.concurrent.GuardedBy;
import dev.sluice.config.v1.ConfigSnapshot;
import dev.sluice.controlplane.store.Candidate;
import dev.sluice.controlplane.store.Leadership;
import dev.sluice.discovery.v1.DiscoveryServiceGrpc;
import dev.sluice.discovery.v1.LeaseQuotaRequest;
import dev.sluice.discovery.v1.LeaseQuotaResponse;
import dev.sluice.grpc.ApiException;
import dev.sluice.grpc.ErrorMapper;
import io.grpc.Context;
import io.grpc.Contexts;
import io.grpc.Deadline;
import io.grpc.ManagedChannel;
import io.grpc.Metadata;
import io.grpc.ServerCall;
import io.grpc.ServerCallHandler;
import io.grpc.ServerInterceptor;
import io.grpc.Status;
import io.grpc.stub.MetadataUtils;
import io.grpc.stub.StreamObserver;
import java.time.Duration;
import java.util.concurrent.TimeUnit;
import java.util.function.Consumer;
import java.util.function.Supplier;
import java.util.logging.Level;
import java.util.logging.Logger;
import org.jspecify.annotations.Nullable;

/**
 * Where one control-plane replica's {@code LeaseQuota} calls are answered: by its own {@link
 * QuotaAllocator} while it is the elected quota allocator, by the elected one (forwarded over
 * gRPC) while another replica is, and with {@code UNAVAILABLE} (reason {@value
 * #ALLOCATOR_UNAVAILABLE}) while none is known or reachable. Data planes call whichever replica
 * they stream config from and need not know which one leads; on {@code UNAVAILABLE} they keep
 * their leases until these lapse, then their static shares, and retry with backoff.
 *
 * <p><b>Why one allocator.</b> An allocator hands out shares of the whole limit; two at once
 * would let the fleet admit up to twice the limit. The election (see {@link
 * dev.sluice.controlplane.store.ConfigStore#campaignForQuotaAllocator}) lets at most one replica
 * hold a tenure at a time, and this router grants only while its tenure {@link
 * Leadership.Leading#holds() holds}, checked right before each grant.
 *
 * <p><b>A new tenure is a new allocator.</b> Each time this replica wins a term it starts a fresh
 * allocator, which learns for one lease duration before granting (leases the previous allocator
 * granted may still be in force, unreported), and drops it when the term ends. State never
 * carries over a gap in which another replica may have led.
 *
 * <p><b>Forwarding.</b> A call is forwarded at most once: the forwarded call carries the header
 * {@value #FORWARDED_BY_HEADER}, and a replica that receives one without leading answers {@code
 * UNAVAILABLE} rather than forwarding again (views of the election differ for a moment after a
 * takeover; this keeps that from becoming a loop). The forward's deadline is the shorter of {@link
 * #DEFAULT_FORWARD_TIMEOUT} and three quarters of what is left of the node's own deadline, so the
 * node hears a clear {@code UNAVAILABLE} rather than its own deadline expiring. The leader's
 * leases are returned unchanged; a cancelled node call cancels the forward.
 *
 * <p><b>Threading.</b> The request path reads one volatile route and never blocks: a local grant
 * takes the allocator's lock for one report, and a forward completes asynchronously. Route changes
 * (election news, arriving serially from the store) and config updates are serialized under one
 * lock that the request path never takes.
 */
public final class QuotaLeaseRouter implements Consumer<Leadership>, AutoCloseable {
  private static final Logger logger = Logger.getLogger(QuotaLeaseRouter.class.getName());

  /** The {@code ErrorInfo} reason of every refusal for want of an allocator. */
  public static final String ALLOCATOR_UNAVAILABLE = "QUOTA_ALLOCATOR_UNAVAILABLE";

  /** Request header of a forwarded call: the id of the replica that forwarded it. */
  public static final String FORWARDED_BY_HEADER = "sluice-quota-forwarded-by";

  /**
   * The longest a forward may take: half the data plane's default {@code LeaseQuota} deadline (2
   * s), and a second is far beyond what one allocator report takes.
   */
  public static final Duration DEFAULT_FORWARD_TIMEOUT = Duration.ofSeconds(1);

  /** How long data planes are told to wait before asking again: about one refresh. */
  private static final Duration RETRY_AFTER = Duration.ofSeconds(1);

  private static final Metadata.Key<String> FORWARDED_BY =
      Metadata.Key.of(FORWARDED_BY_HEADER, Metadata.ASCII_STRING_MARSHALLER);

  private static final Context.Key<String> FORWARDED_BY_CONTEXT =
      Context.key("sluice-quota-forwarded-by");

  private final String controlPlaneId;
  private final Supplier<QuotaAllocator> allocators;
  private final PeerChannels channels;
  private final Duration forwardTimeout;
  private final Object lock = new Object();

  /** What the request path reads; replaced, never mutated. */
  private volatile Route route = new Route.None("no quota allocator has been elected yet");

  @GuardedBy("lock")
  private @Nullable ConfigSnapshot config;

  @GuardedBy("lock")
  private boolean closed;

  /** The last forwarding failure logged as a warning, so that an outage logs once per leader. */
  private volatile @Nullable String lastWarned;

  private QuotaLeaseRouter(
      String controlPlaneId,
      Supplier<QuotaAllocator> allocators,
      PeerChannels channels,
      Duration forwardTimeout) {
    this.controlPlaneId = requireNonNull(controlPlaneId, "controlPlaneId");
    this.allocators = requireNonNull(allocators, "allocators");
    this.channels = requireNonNull(channels, "channels");
    this.forwardTimeout = requireNonNull(forwardTimeout, "forwardTimeout");
  }

  /**
   * A router that answers nothing until it {@link #accept hears} who leads.
   *
   * @param controlPlaneId this replica, named in forwarded calls
   * @param allocators makes a fresh allocator for each term this replica wins (its learning period
   *     included)
   * @param channels opens channels to the leaders this replica forwards to
   * @param forwardTimeout the longest a forward may take; keep it well below the data planes'
   *     {@code LeaseQuota} deadline ({@link #DEFAULT_FORWARD_TIMEOUT})
   */
  public static QuotaLeaseRouter create(
      String controlPlaneId,
      Supplier<QuotaAllocator> allocators,
      PeerChannels channels,
      Duration forwardTimeout) {
    return new QuotaLeaseRouter(controlPlaneId, allocators, channels, forwardTimeout);
  }

  // ---------------------------------------------------------------- state changes

  /** Election news: who leads now, as this replica's store sees it. */
  @Override
  public void accept(Leadership leadership) {
    requireNonNull(leadership, "leadership");
    synchronized (lock) {
      if (closed) {
        return;
      }
      Route previous = route;
      Route next = next(previous, leadership);
      route = next;
      if (previous instanceof Route.Forward old
          && !(next instanceof Route.Forward now && now.channel() == old.channel())) {
        // Calls in flight to the old leader finish; new ones go elsewhere.
        old.channel().shutdown();
      }
    }
  }

  @GuardedBy("lock")
  private Route next(Route previous, Leadership leadership) {
    if (leadership instanceof Leadership.Leading leading) {
      if (previous instanceof Route.Local local && local.tenure().term() == leading.term()) {
        return new Route.Local(local.allocator(), leading);
      }
      QuotaAllocator allocator = allocators.get();
      if (config != null) {
        allocator.apply(config);
      }
      logger.info(
          "control plane "
              + controlPlaneId
              + " allocates quota from now on (term "
              + leading.term()
              + "), granting once its learning period is over");
      return new Route.Local(allocator, leading);
    }
    if (leadership instanceof Leadership.Following following) {
      Candidate leader = following.leader();
      if (previous instanceof Route.Forward forward && forward.leader().equals(leader)) {
        return new Route.Forward(leader, following.term(), forward.channel());
      }
      logger.info(
          "control plane "
              + controlPlaneId
              + " forwards LeaseQuota to the quota allocator "
              + leader
              + " (term "
              + following.term()
              + ")");
      return new Route.Forward(leader, following.term(), channels.open(leader.address()));
    }
    return new Route.None("no quota allocator is elected at the moment");
  }

  /** The limits to allocate: call it with every published snapshot. */
  public void apply(ConfigSnapshot snapshot) {
    requireNonNull(snapshot, "snapshot");
    synchronized (lock) {
      config = snapshot;
      if (route instanceof Route.Local local) {
        local.allocator().apply(snapshot);
      }
    }
  }

  /**
   * Stops answering (every call gets {@code UNAVAILABLE}) and closes the channel to the leader.
   * Close it before resigning from the election, so that no grant follows the resignation.
   */
  @Override
  public void close() {
    synchronized (lock) {
      closed = true;
      Route previous = route;
      route = new Route.None("this control-plane replica is shutting down");
      if (previous instanceof Route.Forward forward) {
        forward.channel().shutdown();
      }
    }
  }

  // ---------------------------------------------------------------- the request path

  /**
   * Answers one {@code LeaseQuota} call through {@code responses}: from the local allocator,
   * from the leader, or with an error ({@code INVALID_ARGUMENT} for a malformed request, checked
   * here first so that the answer does not depend on who leads; {@code UNAVAILABLE} with reason
   * {@value #ALLOCATOR_UNAVAILABLE} for want of an allocator). Returns at once; call it on the
   * call's own thread, inside its gRPC context, so that a forward inherits its cancellation.
   */
  public void lease(LeaseQuotaRequest request, StreamObserver<LeaseQuotaResponse> responses) {
    requireNonNull(request, "request");
    requireNonNull(responses, "responses");
    Route current = route;
    try {
      WaterFillingQuotaAllocator.validate(request);
      if (current instanceof Route.Local local) {
        if (!local.tenure().holds()) {
          throw unavailable(
              "this replica's tenure as quota allocator ran out before it could be renewed; a"
                  + " quota allocator is being elected",
              null);
        }
        responses.onNext(local.allocator().lease(request));
        responses.onCompleted();
        return;
      }
      if (current instanceof Route.Forward forward) {
        String from = FORWARDED_BY_CONTEXT.get();
        if (from != null) {
          throw unavailable(
              "control plane "
                  + from
                  + " forwarded this call to "
                  + controlPlaneId
                  + ", which is not the quota allocator (it follows "
                  + forward.leader().controlPlaneId()
                  + "); the election is settling",
              forward.leader());
        }
        forward(forward, request, responses);
        return;
      }
      throw unavailable(((Route.None) current).why(), null);
    } catch (ApiException e) {
      responses.onError(ErrorMapper.toStatusRuntimeException(e));
    }
  }

  private void forward(
      Route.Forward forward, LeaseQuotaRequest request, StreamObserver<LeaseQuotaResponse> responses) {
    Deadline deadline = Deadline.after(forwardTimeout.toNanos(), TimeUnit.NANOSECONDS);
    Deadline callers = Context.current().getDeadline();
    if (callers != null) {
      long left = callers.timeRemaining(TimeUnit.NANOSECONDS);
      deadline = deadline.minimum(Deadline.after(left - left / 4, TimeUnit.NANOSECONDS));
    }
    Metadata headers = new Metadata();
    headers.put(FORWARDED_BY, controlPlaneId);
    ListenableFuture<LeaseQuotaResponse> call =
        DiscoveryServiceGrpc.newFutureStub(forward.channel())
            .withInterceptors(MetadataUtils.newAttachHeadersInterceptor(headers))
            .withDeadline(deadline)
            .leaseQuota(request);
    Futures.addCallback(
        call,
        new FutureCallback<>() {
          @Override
          public void onSuccess(LeaseQuotaResponse response) {
            lastWarned = null;
            responses.onNext(response);
            responses.onCompleted();
          }

          @Override
          public void onFailure(Throwable failure) {
            Status status = Status.fromThrowable(failure);
            if (status.getCode() == Status.Code.INVALID_ARGUMENT) {
              // The leader's own error boundary spoke, about the request: pass it on as it is.
              responses.onError(ErrorMapper.toStatusRuntimeException(failure));
              return;
            }
            String leader = forward.leader().toString();
            String key = leader + "/" + status.getCode();
            Level level = key.equals(lastWarned) ? Level.FINE : Level.WARNING;
            lastWarned = key;
            logger.log(
                level,
                "forwarding LeaseQuota to the quota allocator {0} failed: {1}; nodes of this"
                    + " replica keep their leases, then their static shares",
                new Object[] {leader, status});
            responses.onError(
                ErrorMapper.toStatusRuntimeException(
                    unavailable(
                        "the quota allocator "
                            + forward.leader().controlPlaneId()
                            + " did not answer ("
                            + status.getCode()
                            + ")",
                        forward.leader())));
          }
        },
        MoreExecutors.directExecutor());
  }

  private static ApiException unavailable(String message, @Nullable Candidate leader) {
    ApiException.Builder error =
        ApiException.builder(Status.Code.UNAVAILABLE, ALLOCATOR_UNAVAILABLE)
            .message(message + "; keep leases until they lapse, then static shares")
            .retryAfter(RETRY_AFTER);
    if (leader != null) {
      error.metadata("quota_allocator", leader.controlPlaneId());
    }
    return error.build();
  }

  /**
   * Wraps the server handler of {@code LeaseQuota} so that {@link #lease} can tell a call another
   * replica forwarded (it carries {@value #FORWARDED_BY_HEADER}) from a data plane's.
   */
  public static <ReqT, RespT> ServerCallHandler<ReqT, RespT> markingForwardedCalls(
      ServerCallHandler<ReqT, RespT> handler) {
    requireNonNull(handler, "handler");
    return (call, headers) -> {
      String from = headers.get(FORWARDED_BY);
      if (from == null) {
        return handler.startCall(call, headers);
      }
      return Contexts.interceptCall(
          Context.current().withValue(FORWARDED_BY_CONTEXT, from), call, headers, handler);
    };
  }

  /** The same marking as a server interceptor, for services bound elsewhere (tests). */
  @VisibleForTesting
  static ServerInterceptor forwardedCallMarker() {
    return new ServerInterceptor() {
      @Override
      public <ReqT, RespT> ServerCall.Listener<ReqT> interceptCall(
          ServerCall<ReqT, RespT> call, Metadata headers, ServerCallHandler<ReqT, RespT> next) {
        return markingForwardedCalls(next).startCall(call, headers);
      }
    };
  }

  /** One way of answering, swapped whole. */
  private sealed interface Route {
    /** This replica leads: its allocator answers while the tenure holds. */
    record Local(QuotaAllocator allocator, Leadership.Leading tenure) implements Route {}

    /** Another replica leads: forward to it over {@code channel}. */
    record Forward(Candidate leader, long term, ManagedChannel channel) implements Route {}

    /** Nobody to answer; {@code why} tells the data plane. */
    record None(String why) implements Route {}
  }
}
