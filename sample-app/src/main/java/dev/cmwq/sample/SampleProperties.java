package dev.cmwq.sample;

import java.nio.file.Path;
import java.time.Duration;
import org.springframework.boot.context.properties.ConfigurationProperties;

/**
 * The sample's own settings.
 *
 * @param downstreamDelay how long the loopback downstream service takes per request
 * @param auditFile       the file the ordered audit log appends to
 * @param writebackDir    where the writeback queue flushes pages
 * @param refreshCost     how long one cache refresh takes
 */
@ConfigurationProperties("sample")
public record SampleProperties(Duration downstreamDelay, Path auditFile, Path writebackDir, Duration refreshCost) {
}
