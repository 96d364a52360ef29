package dev.sluice.launcher;

import static java.nio.charset.StandardCharsets.UTF_8;

import dev.sluice.admin.v1.AdminServiceGrpc;
import io.grpc.ChannelCredentials;
import io.grpc.Grpc;
import io.grpc.InsecureChannelCredentials;
import io.grpc.ManagedChannel;
import io.grpc.ManagedChannelBuilder;
import io.grpc.Metadata;
import io.grpc.TlsChannelCredentials;
import io.grpc.stub.MetadataUtils;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.TimeUnit;
import org.jspecify.annotations.Nullable;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

/**
 * Where the control plane's admin API is and which admin credential to present: an admin token,
 * a client certificate ({@code --cert-file} and {@code --key-file}, for a control plane that
 * lists it with {@code --admin-cert-name}), or both.
 *
 * <p>The token comes from {@code --token-file}, else {@code --token}, else the {@code
 * SLUICE_ADMIN_TOKEN} environment variable, else, for a loopback server, the token {@code sluice
 * dev} saved in its state directory. Each takes the control plane's format ({@code NAME:TOKEN}
 * or a bare token), so the file given to {@code control-plane --admin-token-file} works here
 * too. Prefer the file or the variable: a token on the command line is visible to other users in
 * the process list.
 *
 * <p>With a client certificate, the token of {@code sluice dev}'s state directory is not sent: an
 * operator who presents a certificate means to call as its principal, and the server judges a call
 * by its token whenever one is sent.
 */
final class AdminConnectionOptions {
  static final String DEFAULT_SERVER = "127.0.0.1:" + DefaultPorts.CONTROL_PLANE;

  @Option(
      names = {"-s", "--server"},
      paramLabel = "HOST:PORT",
      defaultValue = "${env:SLUICE_CONTROL_PLANE:-" + DEFAULT_SERVER + "}",
      description = "Control plane admin address (env SLUICE_CONTROL_PLANE; default ${DEFAULT-VALUE}).")
  String server = DEFAULT_SERVER;

  @Option(
      names = "--token",
      paramLabel = "TOKEN",
      description = "Admin token (prefer --token-file or env SLUICE_ADMIN_TOKEN).")
  @Nullable String token;

  @Option(
      names = "--token-file",
      paramLabel = "FILE",
      description = "File holding the admin token (NAME:TOKEN, or the bare token).")
  @Nullable Path tokenFile;

  @Option(
      names = "--cert-file",
      paramLabel = "PEM",
      description =
          "Client certificate chain to present (mutual TLS), with --key-file; implies --tls. The"
              + " admin credential when the control plane lists it (--admin-cert-name).")
  @Nullable Path certFile;

  @Option(
      names = "--key-file",
      paramLabel = "PEM",
      description = "Private key (PKCS#8 PEM) of --cert-file.")
  @Nullable Path keyFile;

  @Option(
      names = "--timeout",
      paramLabel = "DURATION",
      defaultValue = "30s",
      converter = DurationConverter.class,
      description = "Deadline of each admin call (default ${DEFAULT-VALUE}).")
  Duration timeout = Duration.ofSeconds(30);

  @Mixin TransportOptions transport = new TransportOptions();

  /** Opens a channel to the admin API that presents the admin token on every call. */
  ManagedChannel openChannel(Map<String, String> env) throws IOException {
    ManagedChannelBuilder<?> builder = Grpc.newChannelBuilder(server, credentials());
    Optional<String> adminToken = resolveToken(env);
    if (adminToken.isPresent()) {
      Metadata headers = new Metadata();
      headers.put(
          Metadata.Key.of("authorization", Metadata.ASCII_STRING_MARSHALLER),
          "Bearer " + adminToken.get());
      builder.intercept(MetadataUtils.newAttachHeadersInterceptor(headers));
    }
    return builder.userAgent("sluice-cli").build();
  }

  /** A blocking admin stub on {@code channel} with this command's deadline. */
  AdminServiceGrpc.AdminServiceBlockingStub stub(ManagedChannel channel) {
    return AdminServiceGrpc.newBlockingStub(channel)
        .withDeadlineAfter(timeout.toMillis(), TimeUnit.MILLISECONDS);
  }

  private Optional<String> resolveToken(Map<String, String> env) throws IOException {
    if (tokenFile != null) {
      return Optional.of(singleToken(Files.readString(tokenFile, UTF_8), tokenFile.toString()));
    }
    if (token != null && !token.isBlank()) {
      return Optional.of(singleToken(token, "--token"));
    }
    String fromEnv = env.get("SLUICE_ADMIN_TOKEN");
    if (fromEnv != null && !fromEnv.isBlank()) {
      return Optional.of(singleToken(fromEnv, "SLUICE_ADMIN_TOKEN"));
    }
    if (certFile == null && TransportOptions.isLoopback(server)) {
      return DevState.locate(null, env).readAdminToken();
    }
    return Optional.empty();
  }

  /**
   * The token in {@code text}, which has the control plane's format ({@code NAME:TOKEN} or a bare
   * token; see {@link AdminTokens}), so that one file serves both the server and its clients.
   */
  private static String singleToken(String text, String source) {
    Map<String, String> tokens = AdminTokens.parse(text, source);
    if (tokens.size() > 1) {
      throw new CommandFailure(
          source + " holds the tokens of " + tokens.keySet() + "; give a file with one");
    }
    return tokens.values().iterator().next();
  }

  private ChannelCredentials credentials() throws IOException {
    if ((certFile == null) != (keyFile == null)) {
      throw new CommandFailure("--cert-file and --key-file go together");
    }
    if (certFile == null && transport.usePlaintext(server)) {
      return InsecureChannelCredentials.create();
    }
    if (certFile != null && transport.plaintext) {
      throw new CommandFailure("--cert-file needs TLS; drop --plaintext");
    }
    TlsChannelCredentials.Builder tls = TlsChannelCredentials.newBuilder();
    if (transport.caFile != null) {
      tls.trustManager(transport.caFile.toFile());
    }
    if (certFile != null) {
      try {
        tls.keyManager(certFile.toFile(), keyFile.toFile());
      } catch (IOException | IllegalArgumentException e) {
        // The message names the files, never their content.
        throw new CommandFailure(
            "cannot load the client certificate " + certFile + " or its key " + keyFile, e);
      }
    }
    return tls.build();
  }

  static void close(ManagedChannel channel) {
    channel.shutdownNow();
    try {
      channel.awaitTermination(5, TimeUnit.SECONDS);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    }
  }
}
