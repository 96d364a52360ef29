package dev.sluice.dataplane.auth;

import static java.util.Objects.requireNonNull;

import com.google.common.collect.ImmutableMap;
import com.google.common.collect.ImmutableSet;
import com.nimbusds.jose.JWSAlgorithm;
import dev.sluice.config.v1.JwtAlgorithm;
import dev.sluice.config.v1.JwtIssuer;
import dev.sluice.config.v1.Resource;
import java.net.InetAddress;
import java.net.URI;
import java.net.URISyntaxException;
import java.net.UnknownHostException;
import java.nio.file.InvalidPathException;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import java.util.function.Supplier;
import org.jspecify.annotations.Nullable;

/**
 * The JwtIssuer resources of one config version, checked and indexed by their {@code iss} value,
 * each with the source of its verification keys. Immutable; the key sources inside swap their own
 * key snapshots.
 */
final class JwtIssuers {
  static final JwtIssuers EMPTY = new JwtIssuers(ImmutableMap.of(), ImmutableMap.of());

  static final Duration DEFAULT_CACHE_DURATION = Duration.ofMinutes(10);
  static final Duration DEFAULT_CLOCK_SKEW = Duration.ofSeconds(30);
  static final Duration MAX_CLOCK_SKEW = Duration.ofMinutes(5);
  static final String DEFAULT_CONSUMER_CLAIM = "sub";

  /**
   * One trusted issuer, as a token is checked against it.
   *
   * @param name the JwtIssuer resource name
   * @param issuer the expected {@code iss}
   * @param audiences accepted {@code aud} values
   * @param algorithms accepted {@code alg} values; never {@code none} or an HMAC algorithm
   * @param clockSkew tolerance for {@code exp}, {@code nbf} and {@code iat}
   * @param consumerClaim the claim naming the consumer
   * @param keys where the verification keys come from
   */
  record Issuer(
      String name,
      String issuer,
      ImmutableSet<String> audiences,
      ImmutableSet<JWSAlgorithm> algorithms,
      Duration clockSkew,
      String consumerClaim,
      JwksSource keys) {}

  /** A {@code jwks_uri} source is shared and carried over by what it fetches and how long it keeps it. */
  private record UriKey(URI uri, Duration cacheDuration) {}

  private final ImmutableMap<String, Issuer> byIssuer;
  private final ImmutableMap<UriKey, JwksUriSource> uriSources;

  private JwtIssuers(
      ImmutableMap<String, Issuer> byIssuer, ImmutableMap<UriKey, JwksUriSource> uriSources) {
    this.byIssuer = byIssuer;
    this.uriSources = uriSources;
  }

  /**
   * Checks and indexes the JwtIssuers among {@code resources}. Each {@code jwks_file} is read now;
   * each {@code jwks_uri} gets a source that starts fetching in the background, or the source of
   * {@code previous} for the same URI and cache duration, keys and all.
   *
   * @throws IllegalArgumentException naming each bad resource and field
   */
  static JwtIssuers build(
      Iterable<Resource> resources,
      @Nullable JwtIssuers previous,
      Supplier<JwksFetcher> fetchers) {
    requireNonNull(fetchers, "fetchers");
    List<String> errors = new ArrayList<>();
    Map<String, Issuer> byIssuer = new HashMap<>();
    Map<String, String> names = new HashMap<>();
    Map<UriKey, JwksUriSource> uriSources = new HashMap<>();
    for (Resource resource : resources) {
      if (!resource.hasJwtIssuer()) {
        continue;
      }
      JwtIssuer config = resource.getJwtIssuer();
      // Created on first need: a node without JwtIssuers starts no JWKS threads.
      JwksFetcher fetcher = fetchers.get();
      String where = "jwt issuer " + config.getName();
      int before = errors.size();
      if (config.getName().isEmpty()) {
        errors.add("jwt issuer: name: required");
      } else if (names.put(config.getName(), config.getIssuer()) != null) {
        errors.add(where + ": duplicate name");
      }
      if (config.getIssuer().isEmpty()) {
        errors.add(where + ": issuer: required");
      } else if (byIssuer.containsKey(config.getIssuer())) {
        errors.add(
            where
                + ": issuer: "
                + config.getIssuer()
                + " is also the issuer of jwt issuer "
                + byIssuer.get(config.getIssuer()).name());
      }
      ImmutableSet<String> audiences = audiences(config, where, errors);
      ImmutableSet<JWSAlgorithm> algorithms = algorithms(config, where, errors);
      Duration clockSkew = clockSkew(config, where, errors);
      Duration cacheDuration = cacheDuration(config, where, errors);
      JwksSource keys = null;
      switch (config.getJwksSourceCase()) {
        case JWKS_FILE -> keys = fileSource(config.getJwksFile(), where, fetcher, errors);
        case JWKS_URI -> {
          URI uri = jwksUri(config.getJwksUri(), where, errors);
          if (uri != null && errors.size() == before) {
            UriKey key = new UriKey(uri, cacheDuration);
            JwksUriSource source = uriSources.get(key);
            if (source == null && previous != null) {
              source = previous.uriSources.get(key);
            }
            if (source == null) {
              source = new JwksUriSource(uri, cacheDuration, fetcher);
            }
            uriSources.put(key, source);
            keys = source;
          }
        }
        default -> errors.add(where + ": jwks_file or jwks_uri: exactly one is required");
      }
      if (keys != null && errors.size() == before) {
        String claim =
            config.getConsumerClaim().isEmpty()
                ? DEFAULT_CONSUMER_CLAIM
                : config.getConsumerClaim();
        byIssuer.put(
            config.getIssuer(),
            new Issuer(
                config.getName(),
                config.getIssuer(),
                audiences,
                algorithms,
                clockSkew,
                claim,
                keys));
      }
    }
    if (!errors.isEmpty()) {
      throw new IllegalArgumentException(String.join("; ", errors));
    }
    return byIssuer.isEmpty()
        ? EMPTY
        : new JwtIssuers(ImmutableMap.copyOf(byIssuer), ImmutableMap.copyOf(uriSources));
  }

  /** The issuer whose {@code iss} is {@code iss}, or null when none is trusted. */
  @Nullable Issuer issuer(String iss) {
    return byIssuer.get(iss);
  }

  boolean isEmpty() {
    return byIssuer.isEmpty();
  }

  private static ImmutableSet<String> audiences(JwtIssuer config, String where, List<String> errors) {
    if (config.getAudiencesCount() == 0) {
      errors.add(where + ": audiences: at least one is required");
    }
    for (int i = 0; i < config.getAudiencesCount(); i++) {
      if (config.getAudiences(i).isEmpty()) {
        errors.add(where + ": audiences[" + i + "]: must not be empty");
      }
    }
    return ImmutableSet.copyOf(config.getAudiencesList());
  }

  /**
   * Maps the configured algorithms to JOSE ones. The enum cannot express {@code none} or HMAC, and
   * the mapping below only ever yields asymmetric signature algorithms: a token can therefore never
   * get itself checked with a shared secret, least of all with a public key used as one. {@code
   * JWT_ALGORITHM_EDDSA} means Ed25519 and admits both of its names, {@code EdDSA} (RFC 8037, what
   * issuers send) and {@code Ed25519} (RFC 9864); Ed448 is not verified by this build.
   */
  private static ImmutableSet<JWSAlgorithm> algorithms(
      JwtIssuer config, String where, List<String> errors) {
    if (config.getAlgorithmsCount() == 0) {
      errors.add(where + ": algorithms: at least one is required");
    }
    Set<JWSAlgorithm> algorithms = new LinkedHashSet<>();
    for (int i = 0; i < config.getAlgorithmsCount(); i++) {
      JwtAlgorithm algorithm = config.getAlgorithms(i);
      JWSAlgorithm jose =
          switch (algorithm) {
            case JWT_ALGORITHM_RS256 -> JWSAlgorithm.RS256;
            case JWT_ALGORITHM_RS384 -> JWSAlgorithm.RS384;
            case JWT_ALGORITHM_RS512 -> JWSAlgorithm.RS512;
            case JWT_ALGORITHM_PS256 -> JWSAlgorithm.PS256;
            case JWT_ALGORITHM_PS384 -> JWSAlgorithm.PS384;
            case JWT_ALGORITHM_PS512 -> JWSAlgorithm.PS512;
            case JWT_ALGORITHM_ES256 -> JWSAlgorithm.ES256;
            case JWT_ALGORITHM_ES384 -> JWSAlgorithm.ES384;
            case JWT_ALGORITHM_ES512 -> JWSAlgorithm.ES512;
            case JWT_ALGORITHM_EDDSA -> JWSAlgorithm.EdDSA;
            default -> null;
          };
      if (jose == null) {
        String what =
            switch (algorithm) {
              case JWT_ALGORITHM_UNSPECIFIED -> "must be set";
              case UNRECOGNIZED ->
                  "algorithm number "
                      + config.getAlgorithmsValue(i)
                      + " is not supported by this data plane build";
              default -> algorithm.name() + " is not supported by this data plane build";
            };
        errors.add(where + ": algorithms[" + i + "]: " + what);
      } else {
        algorithms.add(jose);
        if (jose.equals(JWSAlgorithm.EdDSA)) {
          algorithms.add(JWSAlgorithm.Ed25519);
        }
      }
    }
    return ImmutableSet.copyOf(algorithms);
  }

  private static Duration clockSkew(JwtIssuer config, String where, List<String> errors) {
    if (!config.hasClockSkew()) {
      return DEFAULT_CLOCK_SKEW;
    }
    Duration skew =
        Duration.ofSeconds(config.getClockSkew().getSeconds(), config.getClockSkew().getNanos());
    if (skew.isNegative() || skew.compareTo(MAX_CLOCK_SKEW) > 0) {
      errors.add(where + ": clock_skew: must be between 0 and " + MAX_CLOCK_SKEW.toMinutes() + " min");
    }
    return skew;
  }

  private static Duration cacheDuration(JwtIssuer config, String where, List<String> errors) {
    if (!config.hasJwksCacheDuration()) {
      return DEFAULT_CACHE_DURATION;
    }
    Duration duration =
        Duration.ofSeconds(
            config.getJwksCacheDuration().getSeconds(), config.getJwksCacheDuration().getNanos());
    if (duration.isNegative() || duration.isZero()) {
      errors.add(where + ": jwks_cache_duration: must be positive");
    }
    return duration;
  }

  private static @Nullable JwksSource fileSource(
      String file, String where, JwksFetcher fetcher, List<String> errors) {
    Path path;
    try {
      path = Path.of(file);
    } catch (InvalidPathException e) {
      errors.add(where + ": jwks_file: not a valid path");
      return null;
    }
    if (file.isEmpty() || !path.isAbsolute()) {
      errors.add(where + ": jwks_file: must be an absolute path");
      return null;
    }
    try {
      return JwksFileSource.load(path, fetcher);
    } catch (IllegalArgumentException e) {
      errors.add(where + ": jwks_file: " + file + ": " + e.getMessage());
      return null;
    }
  }

  /**
   * Checks a {@code jwks_uri}. Keys fetched over plain HTTP could be swapped by anyone on the path,
   * who could then mint tokens for any consumer, so HTTP is allowed for loopback hosts only (a
   * sidecar or a test); everything else must be HTTPS.
   */
  private static @Nullable URI jwksUri(String value, String where, List<String> errors) {
    URI uri;
    try {
      uri = new URI(value);
    } catch (URISyntaxException e) {
      errors.add(where + ": jwks_uri: not a valid URI");
      return null;
    }
    String scheme = uri.getScheme() == null ? "" : uri.getScheme().toLowerCase(Locale.ROOT);
    if (uri.getHost() == null || !(scheme.equals("https") || scheme.equals("http"))) {
      errors.add(where + ": jwks_uri: must be an absolute https URL");
      return null;
    }
    if (scheme.equals("http") && !isLoopback(uri.getHost())) {
      errors.add(where + ": jwks_uri: must use https (http is allowed for loopback hosts only)");
      return null;
    }
    return uri;
  }

  private static boolean isLoopback(String host) {
    if (host.equalsIgnoreCase("localhost")) {
      return true;
    }
    String literal =
        host.startsWith("[") && host.endsWith("]") ? host.substring(1, host.length() - 1) : host;
    // Only IP literals are resolved here (no DNS lookup): a name other than localhost is not loopback.
    boolean ipLiteral = literal.matches("[0-9.]+") || literal.contains(":");
    if (!ipLiteral) {
      return false;
    }
    try {
      return InetAddress.getByName(literal).isLoopbackAddress();
    } catch (UnknownHostException e) {
      return false;
    }
  }
}
