package dev.cmwq.workqueue.actuate;

import static org.assertj.core.api.Assertions.assertThat;

import dev.cmwq.workqueue.CpuMask;
import dev.cmwq.workqueue.LatencySnapshot;
import dev.cmwq.workqueue.PoolStats;
import dev.cmwq.workqueue.WqFlag;
import dev.cmwq.workqueue.Workqueue;
import dev.cmwq.workqueue.WorkqueueAttrs;
import dev.cmwq.workqueue.WorkqueueStats;
import dev.cmwq.workqueue.Workqueues;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Base64;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.springframework.beans.factory.annotation.Autowired;
import org.springframework.boot.test.web.server.LocalServerPort;
import tools.jackson.core.type.TypeReference;
import tools.jackson.databind.SerializationFeature;
import tools.jackson.databind.json.JsonMapper;

/**
 * What the endpoint tests share: a real HTTP client against the test's server, JSON parsing with
 * Jackson 3, and the descriptors the endpoint is expected to produce, built independently from
 * the engine bean (so a test compares the HTTP answer with the engine, not with the endpoint's own
 * code).
 */
abstract class EndpointHttpSupport {

    static final String BASE = "/actuator/workqueues";
    static final JsonMapper JSON = JsonMapper.builder().build();
    static final JsonMapper PRETTY = JsonMapper.builder().enable(SerializationFeature.INDENT_OUTPUT).build();
    static final HttpClient HTTP = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(30)).build();

    @LocalServerPort
    int port;

    @Autowired
    Workqueues engine;

    /** One HTTP answer: status, content type and body. */
    record Resp(int status, String contentType, String body) {
        Map<String, Object> json() {
            assertThat(body).as("JSON body of a %d answer", status).isNotBlank();
            return JSON.readValue(body, new TypeReference<LinkedHashMap<String, Object>>() {
            });
        }

        @Override
        public String toString() {
            return status + " " + body;
        }
    }

    URI uri(String path) {
        return URI.create("http://localhost:" + port + path);
    }

    Resp get(String path) throws Exception {
        return send(HttpRequest.newBuilder(uri(path)).timeout(Duration.ofSeconds(30)).GET().build());
    }

    /** A POST with a JSON body ({@code null}: no body at all) as {@code user} ({@code null}: anonymous). */
    Resp post(String path, String json, String user, String password) throws Exception {
        HttpRequest.Builder b = HttpRequest.newBuilder(uri(path)).timeout(Duration.ofSeconds(30))
                .header("Content-Type", "application/json")
                .POST(json == null ? HttpRequest.BodyPublishers.noBody() : HttpRequest.BodyPublishers.ofString(json));
        if (user != null) {
            b.header("Authorization", "Basic " + Base64.getEncoder()
                    .encodeToString((user + ":" + password).getBytes(StandardCharsets.UTF_8)));
        }
        return send(b.build());
    }

    Resp postAsOps(String path, String json) throws Exception {
        return post(path, json, "ops", "ops-secret");
    }

    private static Resp send(HttpRequest request) throws Exception {
        HttpResponse<String> r = HTTP.send(request, HttpResponse.BodyHandlers.ofString());
        return new Resp(r.statusCode(), r.headers().firstValue("Content-Type").orElse(""), r.body());
    }

    /** GET of one queue, 200 asserted, without its (ever-changing) statistics. */
    Map<String, Object> queueWithoutStats(String name) throws Exception {
        Resp r = get(BASE + "/" + name);
        assertThat(r.status()).as("GET %s: %s", name, r).isEqualTo(200);
        Map<String, Object> q = r.json();
        assertThat(q).containsKey("stats");
        q.remove("stats");
        return q;
    }

    Workqueue wq(String name) {
        return engine.workqueue(name).orElseThrow(() -> new AssertionError("no workqueue " + name + " in the engine"));
    }

    /** What the engine says about a queue's knobs: compared before and after a refused write. */
    record EngineState(int maxActive, WorkqueueAttrs attrs, CpuMask effectiveCpumask, CpuMask unboundCpumask) {
    }

    EngineState engineState(String name) {
        Workqueue wq = wq(name);
        return new EngineState(wq.maxActive(), wq.attrs(), wq.effectiveCpumask(), engine.unboundCpumask());
    }

    // ---- expected descriptors, built from the engine -----------------------------------------

    static Map<String, Object> mask(CpuMask m) {
        Map<String, Object> out = new LinkedHashMap<>();
        out.put("hex", m.toHex());
        out.put("list", m.toList());
        return out;
    }

    /** A queue as the endpoint must describe it, without statistics. */
    static Map<String, Object> expectedQueue(Workqueue wq) {
        Map<String, Object> q = new LinkedHashMap<>();
        q.put("name", wq.name());
        if (wq.alias() != null) {
            q.put("alias", wq.alias());
        }
        List<String> flags = new ArrayList<>();
        for (WqFlag f : wq.flags()) {
            flags.add(f.kernelName());
        }
        if (wq.isOrdered()) {
            flags.add("__WQ_ORDERED");
        }
        q.put("flags", flags);
        q.put("per_cpu", !wq.isUnbound());
        q.put("ordered", wq.isOrdered());
        q.put("sysfs", wq.flags().contains(WqFlag.SYSFS));
        q.put("max_active", wq.maxActive());
        WorkqueueAttrs a = wq.attrs();
        q.put("nice", a.nice());
        if (wq.isUnbound()) {
            q.put("cpumask", mask(a.cpumask()));
            q.put("effective_cpumask", mask(wq.effectiveCpumask()));
            q.put("affinity_scope", a.affinityScope().sysfsName());
            q.put("affinity_strict", a.affinityStrict());
        } else {
            q.put("cpumask", mask(wq.effectiveCpumask()));
        }
        q.put("enforced", wq.placementEnforced());
        return q;
    }

    /** A pool as the endpoint must describe it. */
    static Map<String, Object> expectedPool(PoolStats p) {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("id", p.id());
        m.put("kind", p.kind());
        if (p.cpu() >= 0) {
            m.put("cpu", p.cpu());
        }
        m.put("cpus", mask(p.cpumask()));
        if (p.cpu() < 0) {
            m.put("pod", mask(p.podCpumask()));
            m.put("affinity_strict", p.affinityStrict());
        }
        m.put("nice", p.nice());
        m.put("effective_nice", p.effectiveNice());
        m.put("enforced", p.enforced());
        m.put("workers", p.workers());
        m.put("idle", p.idle());
        m.put("running", p.running());
        m.put("pending", p.pending());
        m.put("last_start", p.lastProgress().toString());
        return m;
    }

    /** The statistics as the endpoint must show them (numbers as longs / doubles, for comparison). */
    static Map<String, Object> expectedStats(WorkqueueStats s) {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("total", s.started());
        m.put("completed", s.completed());
        m.put("failed", s.failed());
        m.put("in_flight", (long) s.inFlight());
        m.put("active", (long) s.active());
        m.put("inactive", (long) s.inactive());
        m.put("pending", (long) s.pending());
        m.put("cpu_time_ms", s.cpuTimeNanos() / 1_000_000.0);
        m.put("cpu_intensive", s.cpuIntensive());
        m.put("cm_wakeups", s.cmWakeups());
        m.put("repatriated", s.repatriated());
        m.put("mayday", s.mayday());
        m.put("rescued", s.rescued());
        m.put("queue_latency", expectedLatency(s.queueLatency()));
        m.put("run_time", expectedLatency(s.runTime()));
        return m;
    }

    private static Map<String, Object> expectedLatency(LatencySnapshot l) {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("count", l.count());
        m.put("mean_ms", l.meanNanos() / 1_000_000.0);
        m.put("p50_ms", l.p50Nanos() / 1_000_000.0);
        m.put("p90_ms", l.p90Nanos() / 1_000_000.0);
        m.put("p99_ms", l.p99Nanos() / 1_000_000.0);
        m.put("max_ms", l.maxNanos() / 1_000_000.0);
        return m;
    }

    /** JSON numbers normalized (integers to long, decimals to double) so they compare with {@link #expectedStats}. */
    @SuppressWarnings("unchecked")
    static Object normalizeNumbers(Object o) {
        if (o instanceof Map<?, ?> m) {
            Map<String, Object> out = new LinkedHashMap<>();
            ((Map<String, Object>) m).forEach((k, v) -> out.put(k, normalizeNumbers(v)));
            return out;
        }
        if (o instanceof List<?> l) {
            return l.stream().map(EndpointHttpSupport::normalizeNumbers).toList();
        }
        if (o instanceof Float || o instanceof Double || o instanceof java.math.BigDecimal) {
            return ((Number) o).doubleValue();
        }
        if (o instanceof Number n) {
            return n.longValue();
        }
        return o;
    }

    @SuppressWarnings("unchecked")
    static Map<String, Object> map(Object o) {
        assertThat(o).isInstanceOf(Map.class);
        return (Map<String, Object>) o;
    }

    @SuppressWarnings("unchecked")
    static List<Object> list(Object o) {
        assertThat(o).isInstanceOf(List.class);
        return (List<Object>) o;
    }

    static long num(Object o) {
        assertThat(o).isInstanceOf(Number.class);
        return ((Number) o).longValue();
    }
}
