package dev.cmwq.sample;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import java.io.IOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.stream.IntStream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.springframework.boot.test.context.SpringBootTest;
import org.springframework.boot.test.web.server.LocalServerPort;
import org.springframework.test.context.DynamicPropertyRegistry;
import org.springframework.test.context.DynamicPropertySource;
import tools.jackson.databind.JsonNode;
import tools.jackson.databind.ObjectMapper;
import tools.jackson.databind.json.JsonMapper;

/**
 * The sample app, started for real on a random port, driven over real HTTP: one test per
 * capability. Nothing sleeps to wait and nothing asserts an upper bound on time (the build
 * machine is small and noisy): outcomes are polled with generous limits.
 */
@SpringBootTest(webEnvironment = SpringBootTest.WebEnvironment.RANDOM_PORT, properties = {
        "workqueue.cpus=2",
        "sample.downstream-delay=200ms",
        "sample.reindex-delay=1s",
        "sample.refresh-cost=100ms",
})
class SampleAppHttpTest {

    static final int CPUS = 2;
    static final Duration LIMIT = Duration.ofSeconds(30);

    @TempDir
    static Path dir;

    @DynamicPropertySource
    static void files(DynamicPropertyRegistry r) {
        r.add("sample.audit-file", () -> dir.resolve("audit.log").toString());
        r.add("sample.writeback-dir", () -> dir.resolve("pages").toString());
    }

    @LocalServerPort
    int port;

    final HttpClient http = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(10)).build();
    final ObjectMapper json = JsonMapper.builder().build();

    // ---- 1. slow downstream on a bound queue: concurrency management --------------------------

    @Test
    void downstreamCallsRunManyAtOnceOnABoundQueueAndTheExtraWorkersGoIdle() throws Exception {
        long total0 = get("/actuator/workqueues/downstream").body().path("stats").path("total").asLong();

        Resp r = post("/api/fetch?count=40", null);

        assertThat(r.status()).isEqualTo(200);
        assertThat(r.body().path("fetched").asInt()).isEqualTo(40);
        assertThat(r.body().path("first").asString()).isEqualTo("item 0");
        // Workers blocked on the downstream's socket don't hold their CPU: far more calls were in
        // flight at once than there are CPUs (2), so more workers than CPUs ran items.
        assertThat(r.body().path("downstreamMaxInFlight").asInt()).isGreaterThanOrEqualTo(5 * CPUS);
        assertThat(r.body().path("workerThreads").asInt()).isGreaterThan(CPUS);

        JsonNode q = get("/actuator/workqueues/downstream").body();
        assertThat(q.path("per_cpu").asBoolean()).isTrue();
        assertThat(q.path("max_active").asInt()).isEqualTo(64);
        JsonNode stats = q.path("stats");
        assertThat(stats.path("total").asLong() - total0).isEqualTo(40);
        assertThat(stats.path("failed").asLong()).isZero();
        // The engine woke further workers because running ones went to sleep.
        assertThat(stats.path("cm_wakeups").asLong()).isPositive();

        // After the burst: the extra workers exist (idle timeout 300 s) and are all idle.
        await().atMost(LIMIT).untilAsserted(() -> {
            JsonNode all = get("/actuator/workqueues").body();
            int workers = 0, idle = 0, running = 0;
            for (JsonNode p : all.path("pools")) {
                if (p.path("kind").asString().equals("cpu")) {
                    workers += p.path("workers").asInt();
                    idle += p.path("idle").asInt();
                    running += p.path("running").asInt();
                }
            }
            assertThat(workers).as("workers in the per-CPU pools").isGreaterThan(CPUS);
            assertThat(idle).as("idle workers in the per-CPU pools").isEqualTo(workers);
            assertThat(running).isZero();
            assertThat(all.path("workqueues").path("downstream").path("stats").path("in_flight").asLong()).isZero();
        });
    }

    // ---- 2. ordered audit log -----------------------------------------------------------------

    @Test
    void auditEventsAreWrittenOneAtATimeInCallOrder() throws Exception {
        List<String> events = IntStream.rangeClosed(1, 200).mapToObj(i -> "event-" + i).toList();

        Resp r = post("/api/audit", json.writeValueAsString(events));

        assertThat(r.status()).isEqualTo(200);
        List<Long> seq = new ArrayList<>();
        r.body().path("recorded").forEach(n -> seq.add(n.asLong()));
        assertThat(seq).containsExactlyElementsOf(IntStream.rangeClosed(1, 200).mapToObj(i -> (long) i).toList());
        List<String> expected = IntStream.rangeClosed(1, 200).mapToObj(i -> i + " event-" + i).toList();

        await().atMost(LIMIT).untilAsserted(() -> {
            List<String> lines = new ArrayList<>();
            get("/api/audit").body().path("lines").forEach(l -> lines.add(l.asString()));
            assertThat(lines).containsExactlyElementsOf(expected);
        });
        assertThat(Files.readAllLines(dir.resolve("audit.log"))).containsExactlyElementsOf(expected);

        JsonNode q = get("/actuator/workqueues/audit").body();
        List<String> flags = new ArrayList<>();
        q.path("flags").forEach(f -> flags.add(f.asString()));
        assertThat(flags).contains("__WQ_ORDERED");
        assertThat(q.path("ordered").asBoolean()).isTrue();
        assertThat(q.path("max_active").asInt()).isEqualTo(1);
        assertThat(q.path("stats").path("total").asLong()).isEqualTo(200);
        assertThat(q.path("stats").path("failed").asLong()).isZero();
    }

    // ---- 3. absorbed cache refresh ------------------------------------------------------------

    @Test
    void aBurstOfCacheRefreshesIsAbsorbedAndNeverRunsTwiceAtOnce() throws Exception {
        int refreshes0 = get("/api/cache").body().path("refreshes").asInt();

        Resp r = post("/api/cache/refresh?times=1000", null);

        assertThat(r.status()).isEqualTo(200);
        int queued = r.body().path("queued").asInt();
        int absorbed = r.body().path("absorbed").asInt();
        assertThat(r.body().path("triggers").asInt()).isEqualTo(1000);
        assertThat(queued + absorbed).isEqualTo(1000);
        // A refresh takes 100 ms; a trigger while one is pending is absorbed, one while it runs
        // queues it once more: a tight loop of 1000 triggers queues a handful at most.
        assertThat(queued).isBetween(1, 5);
        assertThat(absorbed).isGreaterThanOrEqualTo(995);

        await().atMost(LIMIT).untilAsserted(() -> {
            JsonNode c = get("/api/cache").body();
            assertThat(c.path("refreshes").asInt() - refreshes0).isEqualTo(queued);
            assertThat(c.path("maxConcurrent").asInt()).isEqualTo(1);
        });
    }

    // ---- 4. debounced re-index ----------------------------------------------------------------

    @Test
    void aBurstOfEditsReindexesOnceAfterTheLastEdit() throws Exception {
        int runs0 = get("/api/reindex").body().path("runs").asInt();

        Instant lastEdit = burstOfEdits(10);
        await().atMost(LIMIT).until(() -> get("/api/reindex").body().path("runs").asInt() == runs0 + 1);
        JsonNode s = get("/api/reindex").body();
        assertThat(Instant.parse(s.path("lastRun").asString())).isAfter(lastEdit);
        // No new edits: it stays at one run, also after another round trip to the app.
        assertThat(get("/api/cache").status()).isEqualTo(200);
        assertThat(get("/api/reindex").body().path("runs").asInt()).isEqualTo(runs0 + 1);

        Instant lastEdit2 = burstOfEdits(10);
        await().atMost(LIMIT).until(() -> get("/api/reindex").body().path("runs").asInt() == runs0 + 2);
        assertThat(Instant.parse(get("/api/reindex").body().path("lastRun").asString())).isAfter(lastEdit2);
        assertThat(get("/api/cache").status()).isEqualTo(200);
        assertThat(get("/api/reindex").body().path("runs").asInt()).isEqualTo(runs0 + 2);
    }

    /** Back-to-back edits; returns when the last one's response arrived. */
    private Instant burstOfEdits(int n) throws Exception {
        for (int i = 0; i < n; i++) {
            Resp r = post("/api/reindex?edits=1", null);
            assertThat(r.status()).isEqualTo(200);
            assertThat(r.body().path("edits").asInt()).isEqualTo(1);
        }
        return Instant.now();
    }

    // ---- 5. MEM_RECLAIM + SYSFS writeback, tuned through the actuator -------------------------

    @Test
    void writebackFlushesEveryPageAndIsTunableThroughTheActuator() throws Exception {
        int flushed0 = get("/api/writeback").body().path("flushed").asInt();

        Resp r = post("/api/writeback?pages=100", null);

        assertThat(r.status()).isEqualTo(200);
        int queued = r.body().path("queued").asInt();
        assertThat(r.body().path("dirtied").asInt()).isEqualTo(100);
        assertThat(queued).isBetween(1, 100);
        await().atMost(LIMIT).until(() -> get("/api/writeback").body().path("flushed").asInt() == flushed0 + queued);
        try (var files = Files.list(dir.resolve("pages"))) {
            assertThat(files.count()).isEqualTo(100);
        }

        JsonNode q = get("/actuator/workqueues/writeback").body();
        List<String> flags = new ArrayList<>();
        q.path("flags").forEach(f -> flags.add(f.asString()));
        assertThat(flags).contains("WQ_UNBOUND", "WQ_MEM_RECLAIM", "WQ_SYSFS");
        assertThat(q.path("max_active").asInt()).isEqualTo(8);

        Resp tuned = post("/actuator/workqueues/writeback", "{\"max_active\": 2, \"nice\": 5}");
        assertThat(tuned.status()).isEqualTo(200);
        assertThat(tuned.body().path("max_active").asInt()).isEqualTo(2);
        assertThat(tuned.body().path("nice").asInt()).isEqualTo(5);
        q = get("/actuator/workqueues/writeback").body();
        assertThat(q.path("max_active").asInt()).isEqualTo(2);
        assertThat(q.path("nice").asInt()).isEqualTo(5);

        Resp bad = post("/actuator/workqueues/writeback", "{\"max_active\": 3, \"nice\": 99}");
        assertThat(bad.status()).isEqualTo(400);
        assertThat(bad.body().path("key").asString()).isEqualTo("nice");
        assertThat(bad.body().path("value").asString()).isEqualTo("99");
        assertThat(bad.body().path("allowed").asString()).isEqualTo("-20..19");
        assertThat(bad.body().path("changed").asBoolean()).isFalse();
        q = get("/actuator/workqueues/writeback").body();
        assertThat(q.path("max_active").asInt()).as("nothing changed").isEqualTo(2);
        assertThat(q.path("nice").asInt()).as("nothing changed").isEqualTo(5);

        // Still flushes after tuning.
        int flushed1 = get("/api/writeback").body().path("flushed").asInt();
        int queued2 = post("/api/writeback?pages=10", null).body().path("queued").asInt();
        await().atMost(LIMIT).until(() -> get("/api/writeback").body().path("flushed").asInt() == flushed1 + queued2);

        // MEM_RECLAIM: a rescuer thread exists for the queue.
        assertThat(Thread.getAllStackTraces().keySet())
                .anySatisfy(t -> {
                    assertThat(t.getName()).isEqualTo("kworker/R-writeback");
                    assertThat(t.isAlive()).isTrue();
                });
    }

    // ---- 6. Prometheus ------------------------------------------------------------------------

    @Test
    void prometheusShowsExecutorAndWorkqueueMeters() throws Exception {
        post("/api/writeback?pages=1", null);
        await().atMost(LIMIT).untilAsserted(() -> {
            HttpResponse<String> r = http.send(HttpRequest.newBuilder(uri("/actuator/prometheus"))
                    .header("Accept", "text/plain").build(), HttpResponse.BodyHandlers.ofString());
            assertThat(r.statusCode()).isEqualTo(200);
            List<String> lines = r.body().lines().toList();
            assertThat(lines).contains("# TYPE executor_completed_tasks_total counter", "# TYPE workqueue_pool_workers gauge");
            assertThat(lines).anyMatch(l -> l.startsWith("executor_completed_tasks_total{") && l.contains("name=\"writeback\""));
            assertThat(lines).anyMatch(l -> l.startsWith("workqueue_pool_workers{"));
        });
    }

    // ---- health -------------------------------------------------------------------------------

    @Test
    void workqueuesHealthIsUp() throws Exception {
        Resp r = get("/actuator/health/workqueues");
        assertThat(r.status()).isEqualTo(200);
        assertThat(r.body().path("status").asString()).isEqualTo("UP");
    }

    // ---- 7. bad input -------------------------------------------------------------------------

    @Test
    void aBadCountIsA400NamingTheValueAndTheRange() throws Exception {
        Resp r = post("/api/fetch?count=0", null);

        assertThat(r.status()).isEqualTo(400);
        assertThat(r.body().path("error").asString()).contains("count 0").contains("1..1000");
    }

    // ---- HTTP ---------------------------------------------------------------------------------

    record Resp(int status, JsonNode body) {
    }

    private URI uri(String path) {
        return URI.create("http://127.0.0.1:" + port + path);
    }

    private Resp get(String path) throws IOException, InterruptedException {
        return send(HttpRequest.newBuilder(uri(path)).header("Accept", "application/json").GET().build());
    }

    private Resp post(String path, String body) throws IOException, InterruptedException {
        return send(HttpRequest.newBuilder(uri(path)).header("Accept", "application/json")
                .header("Content-Type", "application/json")
                .POST(body == null ? HttpRequest.BodyPublishers.noBody() : HttpRequest.BodyPublishers.ofString(body))
                .build());
    }

    private Resp send(HttpRequest req) throws IOException, InterruptedException {
        HttpResponse<String> r = http.send(req, HttpResponse.BodyHandlers.ofString());
        JsonNode body = r.body().isBlank() ? json.nullNode() : json.readTree(r.body());
        return new Resp(r.statusCode(), body);
    }
}
