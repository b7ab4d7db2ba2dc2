package dev.cmwq.workqueue.actuate;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import dev.cmwq.workqueue.Work;
import dev.cmwq.workqueue.Workqueue;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Map;
import java.util.concurrent.atomic.AtomicLong;
import org.junit.jupiter.api.Test;

/**
 * Saves one real {@code GET /actuator/workqueues} of the small application (2 CPUs, {@code writeback}:
 * unbound, sysfs, max-active 8), after a few items ran on {@code writeback}, pretty-printed to
 * {@code target/workqueues-sample.json} for the docs to quote.
 */
@SmallReadOnlyApp
class WorkqueuesSampleResponseTest extends EndpointHttpSupport {

    static final int ITEMS = 5;

    @Test
    void savesARealResponseAfterAFewItemsRan() throws Exception {
        Workqueue wb = wq("writeback");
        long completed0 = wb.stats().completed();
        AtomicLong sink = new AtomicLong();
        for (int i = 0; i < ITEMS; i++) {
            int n = i;
            assertThat(wb.queue(new Work("sample-" + i, () -> {
                long x = 0;
                for (int k = 0; k < 20_000; k++) {
                    x += (long) k * n;
                }
                sink.addAndGet(x);
            }))).isTrue();
        }
        await().atMost(Duration.ofSeconds(30)).untilAsserted(() -> {
            Map<String, Object> stats = map(get(BASE + "/writeback").json().get("stats"));
            assertThat(num(stats.get("completed"))).isEqualTo(completed0 + ITEMS);
            assertThat(num(stats.get("in_flight"))).isZero();
        });

        Resp r = get(BASE);
        assertThat(r.status()).as("%s", r).isEqualTo(200);
        Map<String, Object> body = r.json();
        Path out = Path.of(System.getProperty("basedir", ".")).resolve("target/workqueues-sample.json").toAbsolutePath();
        Files.createDirectories(out.getParent());
        Files.writeString(out, PRETTY.writeValueAsString(body) + "\n", StandardCharsets.UTF_8);

        // what was saved is that response, and shows what the docs want to show
        Map<String, Object> saved = JSON.readValue(Files.readString(out), new tools.jackson.core.type.TypeReference<Map<String, Object>>() {
        });
        assertThat(saved).isEqualTo(body);
        assertThat(saved).containsEntry("cpus", 2);
        Map<String, Object> writeback = map(map(saved.get("workqueues")).get("writeback"));
        assertThat(writeback.get("flags")).isEqualTo(java.util.List.of("WQ_UNBOUND", "WQ_SYSFS"));
        assertThat(writeback).containsEntry("max_active", 8);
        assertThat(num(map(writeback.get("stats")).get("completed"))).isGreaterThanOrEqualTo(ITEMS);
        assertThat(num(map(map(writeback.get("stats")).get("run_time")).get("count"))).isGreaterThanOrEqualTo(ITEMS);
        assertThat(Files.readString(out)).startsWith("{\n  \"engine\"").contains("\n    \"writeback\"");
    }
}
