package dev.sluice.bench.internal;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.time.Duration;
import org.junit.jupiter.api.Test;
import picocli.CommandLine.TypeConversionException;

class DurationConverterTest {
  @Test
  void parsesUnitsAndBareSeconds() {
    assertThat(DurationConverter.parse("250ms")).isEqualTo(Duration.ofMillis(250));
    assertThat(DurationConverter.parse("10s")).isEqualTo(Duration.ofSeconds(10));
    assertThat(DurationConverter.parse("2m")).isEqualTo(Duration.ofMinutes(2));
    assertThat(DurationConverter.parse("3h")).isEqualTo(Duration.ofHours(3));
    assertThat(DurationConverter.parse("1.5")).isEqualTo(Duration.ofMillis(1500));
    assertThat(DurationConverter.parse("40us")).isEqualTo(Duration.ofNanos(40_000));
  }

  @Test
  void rejectsGarbageAndNegatives() {
    assertThatThrownBy(() -> DurationConverter.parse("soon"))
        .isInstanceOf(TypeConversionException.class);
    assertThatThrownBy(() -> DurationConverter.parse("-1s"))
        .isInstanceOf(TypeConversionException.class);
  }
}
