package dev.sluice.launcher;

import static java.nio.charset.StandardCharsets.US_ASCII;

import java.io.IOException;
import java.nio.file.FileAlreadyExistsException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.security.SecureRandom;
import java.util.Base64;
import java.util.Map;
import java.util.Optional;
import org.jspecify.annotations.Nullable;

/**
 * The directory where {@code sluice dev} keeps its state between runs: the embedded config store,
 * the data plane's snapshot file and the generated admin token.
 *
 * <p>It is {@code --state-dir} when given, else {@code $SLUICE_HOME/dev}, else {@code
 * .sluice/dev} under the working directory (the repository root when following the README; it is
 * git-ignored). Client commands look for the admin token here too, so {@code sluice apply} works
 * against a local dev gateway without flags.
 */
final class DevState {
  private static final String TOKEN_FILE = "admin-token";

  private final Path dir;

  private DevState(Path dir) {
    this.dir = dir.toAbsolutePath().normalize();
  }

  /** The state directory chosen by {@code explicit}, the environment, or the default. */
  static DevState locate(@Nullable Path explicit, Map<String, String> env) {
    if (explicit != null) {
      return new DevState(explicit);
    }
    String home = env.get("SLUICE_HOME");
    if (home != null && !home.isBlank()) {
      return new DevState(Path.of(home, "dev"));
    }
    return new DevState(Path.of(".sluice", "dev"));
  }

  Path dir() {
    return dir;
  }

  Path storeDir() {
    return dir.resolve("config-store");
  }

  Path snapshotCacheFile() {
    return dir.resolve("data-plane-snapshot.bin");
  }

  Path adminTokenFile() {
    return dir.resolve(TOKEN_FILE);
  }

  /** The admin token saved by an earlier {@code dev}, if there is one. */
  Optional<String> readAdminToken() throws IOException {
    Path file = adminTokenFile();
    if (!Files.isRegularFile(file)) {
      return Optional.empty();
    }
    String token = Files.readString(file, US_ASCII).strip();
    return token.isEmpty() ? Optional.empty() : Optional.of(token);
  }

  /**
   * The admin token of this state directory, generated (32 random bytes, owner-only file) on the
   * first run and reused afterwards so scripts and shells keep working across restarts.
   */
  String adminToken() throws IOException {
    Optional<String> existing = readAdminToken();
    if (existing.isPresent()) {
      return existing.get();
    }
    Files.createDirectories(dir);
    byte[] secret = new byte[32];
    new SecureRandom().nextBytes(secret);
    String token = "sluice-dev-" + Base64.getUrlEncoder().withoutPadding().encodeToString(secret);
    Path file = adminTokenFile();
    try {
      Files.createFile(file, PosixFilePermissions.asFileAttribute(
          PosixFilePermissions.fromString("rw-------")));
    } catch (FileAlreadyExistsException raced) {
      return readAdminToken().orElseThrow(() -> new IOException("empty token file " + file));
    } catch (UnsupportedOperationException notPosix) {
      Files.createFile(file);
    }
    Files.writeString(file, token + "\n", US_ASCII);
    return token;
  }
}
