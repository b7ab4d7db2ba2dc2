package dev.cmwq.workqueue.actuate;

import static java.util.concurrent.TimeUnit.SECONDS;
import static org.assertj.core.api.Assertions.assertThat;

import dev.cmwq.workqueue.PoolStats;
import dev.cmwq.workqueue.Work;
import dev.cmwq.workqueue.Workqueue;
import dev.cmwq.workqueue.Workqueues;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.atomic.AtomicLong;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.awaitility.Awaitility;
import org.awaitility.core.ConditionFactory;
import tools.jackson.databind.JsonNode;
import tools.jackson.databind.json.JsonMapper;

/**
 * What the actuator tests share: an HTTP client for the running server, a parser for the Prometheus
 * scrape text, the suite's waits (generous, polled, never a bare sleep: the machines are 2 noisy
 * cores) and a real pool stall.
 */
final class ActuatorTestSupport {

    static final Duration LONG = Duration.ofSeconds(60);

    private static final JsonMapper JSON = JsonMapper.builder().build();

    private ActuatorTestSupport() {
    }

    /** Keeps the items' arithmetic from being optimised away. */
    private static final AtomicLong SINK = new AtomicLong();

    /** Some real CPU work (milliseconds), so that CPU accounting and the run-time histograms have something to count. */
    static void burn() {
        long x = 17;
        for (int i = 0; i < 2_000_000; i++) {
            x = x * 6364136223846793005L + 1442695040888963407L ^ (x >>> 29);
        }
        SINK.addAndGet(x);
    }

    static ConditionFactory await() {
        return Awaitility.await().atMost(LONG).pollInterval(Duration.ofMillis(50)).ignoreExceptions();
    }

    static void awaitLatch(CountDownLatch l) {
        try {
            assertThat(l.await(LONG.toSeconds(), SECONDS)).as("latch reached zero in time").isTrue();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new AssertionError(e);
        }
    }

    /** Blocks without the blocking hook: with the sleep monitor off, the worker still counts as running. */
    static void holdUntilReleased(CountDownLatch release) {
        try {
            if (!release.await(LONG.toSeconds(), SECONDS)) {
                throw new IllegalStateException("never released");
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException(e);
        }
    }

    // ---- HTTP -------------------------------------------------------------------------------------

    record Response(int status, String body) {
        JsonNode json() {
            return JSON.readTree(body);
        }
    }

    static final class Http {
        private final HttpClient client = HttpClient.newHttpClient();
        private final int port;

        Http(int port) {
            this.port = port;
        }

        Response get(String path) {
            try {
                HttpResponse<String> r = client.send(HttpRequest.newBuilder(URI.create("http://localhost:" + port + path)).build(),
                        HttpResponse.BodyHandlers.ofString());
                return new Response(r.statusCode(), r.body());
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new IllegalStateException(e);
            } catch (java.io.IOException e) {
                throw new java.io.UncheckedIOException(e);
            }
        }

        Scrape scrape() {
            Response r = get("/actuator/prometheus");
            assertThat(r.status()).as("prometheus scrape status").isEqualTo(200);
            return new Scrape(r.body());
        }
    }

    // ---- Prometheus text --------------------------------------------------------------------------

    /** One sample line of the text format. */
    record Sample(String name, Map<String, String> labels, double value, String line) {
    }

    /** The scrape text, parsed: samples, and the {@code # TYPE} of each family. */
    static final class Scrape {
        private static final Pattern SAMPLE = Pattern.compile("^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\\{(.*)})?\\s+(\\S+)(?:\\s+\\S+)?$");
        private static final Pattern LABEL = Pattern.compile("([a-zA-Z_][a-zA-Z0-9_]*)=\"((?:[^\"\\\\]|\\\\.)*)\"");
        private static final Pattern TYPE = Pattern.compile("^# TYPE (\\S+) (\\S+)$");

        final String text;
        final List<Sample> samples = new ArrayList<>();
        final Map<String, String> types = new LinkedHashMap<>();

        Scrape(String text) {
            this.text = text;
            for (String line : text.split("\n")) {
                Matcher t = TYPE.matcher(line);
                if (t.matches()) {
                    types.put(t.group(1), t.group(2));
                    continue;
                }
                if (line.isBlank() || line.startsWith("#")) {
                    continue;
                }
                Matcher m = SAMPLE.matcher(line);
                if (!m.matches()) {
                    throw new AssertionError("not a sample line: " + line);
                }
                Map<String, String> labels = new LinkedHashMap<>();
                if (m.group(2) != null) {
                    Matcher l = LABEL.matcher(m.group(2));
                    while (l.find()) {
                        labels.put(l.group(1), l.group(2));
                    }
                }
                samples.add(new Sample(m.group(1), labels, Double.parseDouble(m.group(3)), line));
            }
        }

        /** The samples named {@code name} whose labels include {@code labelPairs} (key, value, ...). */
        List<Sample> find(String name, String... labelPairs) {
            List<Sample> out = new ArrayList<>();
            for (Sample s : samples) {
                if (s.name().equals(name) && hasLabels(s, labelPairs)) {
                    out.add(s);
                }
            }
            return out;
        }

        /** The one sample named {@code name} with these labels, if any (more than one fails). */
        Optional<Double> value(String name, String... labelPairs) {
            List<Sample> found = find(name, labelPairs);
            assertThat(found).as("samples %s %s", name, List.of(labelPairs)).hasSizeLessThanOrEqualTo(1);
            return found.stream().findFirst().map(Sample::value);
        }

        double require(String name, String... labelPairs) {
            return value(name, labelPairs).orElseThrow(() -> new AssertionError("no sample " + name + " " + List.of(labelPairs)));
        }

        private static boolean hasLabels(Sample s, String... pairs) {
            for (int i = 0; i < pairs.length; i += 2) {
                if (!pairs[i + 1].equals(s.labels().get(pairs[i]))) {
                    return false;
                }
            }
            return true;
        }

        /** The lines that mention {@code fragment}, {@code # HELP}/{@code # TYPE} included. */
        List<String> lines(String fragment) {
            return text.lines().filter(l -> l.contains(fragment)).toList();
        }
    }

    // ---- a real stall -----------------------------------------------------------------------------

    /**
     * A real lockup of the per-CPU pool of CPU 0 on {@code system_wq}: a blocker that waits on a latch
     * without the blocking hook (so, with {@code workqueue.monitor-interval=0}, the pool still
     * counts it as running and wakes no other worker), and a second item queued behind it on the same
     * CPU, which stays pending. {@link #close()} releases the blocker; call it in a finally.
     */
    static final class Stall implements AutoCloseable {
        final Workqueues engine;
        final int poolId;
        final CountDownLatch release = new CountDownLatch(1);
        final CountDownLatch behindRan = new CountDownLatch(1);

        private Stall(Workqueues engine) {
            this.engine = engine;
            this.poolId = cpu0Pool(engine).id();
        }

        static Stall provoke(Workqueues engine) {
            Stall s = new Stall(engine);
            try {
                Workqueue wq = engine.systemWq();
                CountDownLatch in = new CountDownLatch(1);
                assertThat(wq.queueOn(0, new Work("stall-blocker", () -> {
                    in.countDown();
                    holdUntilReleased(s.release);
                }))).isTrue();
                awaitLatch(in);
                assertThat(wq.queueOn(0, new Work("stall-behind", s.behindRan::countDown))).isTrue();
                return s;
            } catch (RuntimeException | Error e) {
                s.close();
                throw e;
            }
        }

        /** Releases the blocker (idempotent). */
        @Override
        public void close() {
            release.countDown();
        }

        /** Releases the blocker and waits for the item behind it to run. */
        void releaseAndAwaitProgress() {
            close();
            awaitLatch(behindRan);
        }
    }

    static PoolStats cpu0Pool(Workqueues engine) {
        return engine.pools().stream().filter(p -> p.kind().equals("cpu") && p.cpu() == 0).findFirst().orElseThrow();
    }
}
