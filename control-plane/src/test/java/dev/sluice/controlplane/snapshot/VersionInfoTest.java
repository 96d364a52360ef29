package dev.sluice.controlplane.snapshot;

import static org.assertj.core.api.Assertions.assertThat;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

class VersionInfoTest {
  @Test
  void formatsTheEpochInHexAndTheVersionInDecimal() {
    assertThat(VersionInfo.format(255, 42)).isEqualTo("ff.42");
    assertThat(VersionInfo.format(-1, 1)).isEqualTo("ffffffffffffffff.1");
  }

  @Test
  void parsesWhatItFormats() {
    assertThat(VersionInfo.parse("ffffffffffffffff.7")).contains(new VersionInfo(-1, 7));
    assertThat(VersionInfo.parse("0.0")).contains(new VersionInfo(0, 0));
  }

  @ParameterizedTest
  @ValueSource(strings = {"", ".", "1", "1.", ".1", "x.1", "1.x", "1.-1", "01.1", "FF.1", "1.2.3"})
  void rejectsMalformedVersionInfo(String malformed) {
    assertThat(VersionInfo.parse(malformed)).isEmpty();
  }

  @Test
  void comparesOnlyWithinOneEpoch() {
    VersionInfo info = new VersionInfo(5, 10);

    assertThat(info.atLeast(5, 10)).isTrue();
    assertThat(info.atLeast(5, 9)).isTrue();
    assertThat(info.atLeast(5, 11)).isFalse();
    assertThat(info.atLeast(6, 1)).isFalse();
  }
}
