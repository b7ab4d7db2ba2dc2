package dev.cmwq.workqueue.spring;

import static dev.cmwq.workqueue.spring.LifecycleTest.runAsync;
import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import dev.cmwq.workqueue.DelayedWork;
import dev.cmwq.workqueue.Work;
import dev.cmwq.workqueue.Workqueues;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.time.Duration;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicReference;
import org.junit.jupiter.api.Test;
import org.springframework.boot.autoconfigure.EnableAutoConfiguration;
import org.springframework.boot.builder.SpringApplicationBuilder;
import org.springframework.boot.web.server.context.WebServerApplicationContext;
import org.springframework.boot.web.server.context.WebServerGracefulShutdownLifecycle;
import org.springframework.context.ConfigurableApplicationContext;
import org.springframework.context.SmartLifecycle;
import org.springframework.context.annotation.Bean;
import org.springframework.context.annotation.Configuration;
import org.springframework.context.annotation.Import;
import org.springframework.web.bind.annotation.GetMapping;
import org.springframework.web.bind.annotation.RestController;

/**
 * The engine is drained after the web server's graceful shutdown: a request still being served
 * when the context closes can queue work items (delayed ones too), and they run before close
 * returns.
 */
class WebServerShutdownOrderTest {

    private static final Duration LIMIT = Duration.ofSeconds(30);

    /** Shared between the test and the application (registered as a singleton before refresh). */
    static final class Probe {
        final CountDownLatch requestArrived = new CountDownLatch(1);
        final CountDownLatch releaseRequest = new CountDownLatch(1);
        final CountDownLatch itemRan = new CountDownLatch(1);
        final CountDownLatch delayedRan = new CountDownLatch(1);
        final AtomicReference<Boolean> engineShutDownWhenQueueing = new AtomicReference<>();
        final AtomicReference<Boolean> workqueuesLifecycleRunningWhenQueueing = new AtomicReference<>();
    }

    public static class Recorder {
        private final AtomicInteger runs = new AtomicInteger();

        @WorkItem(queue = "system_unbound_wq", delay = "1h")
        public void record(String what) {
            runs.incrementAndGet();
        }

        public int runs() {
            return runs.get();
        }
    }

    @RestController
    public static class SlowController {
        private final Probe probe;
        private final Workqueues engine;
        private final Recorder recorder;
        private final WorkqueuesLifecycle lifecycle;

        public SlowController(Probe probe, Workqueues engine, Recorder recorder, WorkqueuesLifecycle lifecycle) {
            this.probe = probe;
            this.engine = engine;
            this.recorder = recorder;
            this.lifecycle = lifecycle;
        }

        @GetMapping("/slow")
        public String slow() throws InterruptedException {
            probe.requestArrived.countDown();
            if (!probe.releaseRequest.await(60, TimeUnit.SECONDS)) {
                throw new IllegalStateException("request never released");
            }
            probe.engineShutDownWhenQueueing.set(engine.isShutdown());
            probe.workqueuesLifecycleRunningWhenQueueing.set(lifecycle.isRunning());
            engine.systemWq().queue(new Work("queued-by-request", probe.itemRan::countDown));
            engine.systemWq().queueDelayed(new DelayedWork("delayed-by-request", probe.delayedRan::countDown), Duration.ofHours(1));
            recorder.record("request");
            return "queued";
        }
    }

    @Configuration(proxyBeanMethods = false)
    @EnableAutoConfiguration
    @Import(SlowController.class)
    static class App {
        @Bean
        Recorder recorder() {
            return new Recorder();
        }
    }

    @Test
    void workqueuesStopAfterTheWebServer() {
        assertThat(WorkqueuesLifecycle.PHASE).isLessThan(WebServerGracefulShutdownLifecycle.SMART_LIFECYCLE_PHASE);
        assertThat(WorkqueuesLifecycle.PHASE).isLessThan(SmartLifecycle.DEFAULT_PHASE - 2048); // web server stop
    }

    @Test
    void workItemsQueuedByARequestDuringGracefulShutdownAreDrained() throws Exception {
        Probe probe = new Probe();
        ConfigurableApplicationContext ctx = new SpringApplicationBuilder(App.class)
                .initializers(c -> c.getBeanFactory().registerSingleton("probe", probe))
                .properties("server.port=0", "workqueue.cpus=2", "spring.main.banner-mode=off")
                .registerShutdownHook(false)
                .run();
        LogProbe gracefulShutdownBegan = null;
        try {
            // server.shutdown defaults to graceful in Boot 4: its lifecycle bean is there, unasked.
            assertThat(ctx.getBeansOfType(WebServerGracefulShutdownLifecycle.class)).hasSize(1);
            WorkqueuesLifecycle workqueuesLifecycle = ctx.getBean(WorkqueuesLifecycle.class);
            assertThat(workqueuesLifecycle.getPhase()).isLessThan(ctx.getBean(WebServerGracefulShutdownLifecycle.class).getPhase());
            // Every lifecycle of the web server (graceful shutdown, then stop) stops before the engine drains.
            assertThat(ctx.getBeansOfType(SmartLifecycle.class).values())
                    .filteredOn(l -> l.getClass().getName().startsWith("org.springframework.boot.web.server."))
                    .hasSizeGreaterThanOrEqualTo(2)
                    .allSatisfy(l -> assertThat(l.getPhase()).isGreaterThan(WorkqueuesLifecycle.PHASE));
            Workqueues engine = ctx.getBean(Workqueues.class);
            Recorder recorder = ctx.getBean(Recorder.class);
            int port = ((WebServerApplicationContext) ctx).getWebServer().getPort();
            gracefulShutdownBegan = LogProbe.attach("org.springframework.boot.tomcat.GracefulShutdown",
                    m -> m.contains("Commencing graceful shutdown"), () -> { });

            HttpClient client = HttpClient.newHttpClient();
            CompletableFuture<HttpResponse<String>> response = client.sendAsync(
                    HttpRequest.newBuilder(URI.create("http://localhost:" + port + "/slow")).timeout(Duration.ofSeconds(120)).build(),
                    HttpResponse.BodyHandlers.ofString());
            assertThat(probe.requestArrived.await(LIMIT.toSeconds(), TimeUnit.SECONDS)).as("request in flight").isTrue();

            CompletableFuture<Void> closing = runAsync(ctx::close);
            // The graceful shutdown is waiting for our request now.
            await().atMost(LIMIT).until(gracefulShutdownBegan::fired);
            assertThat(closing).isNotDone();
            probe.releaseRequest.countDown();

            HttpResponse<String> r = response.get(LIMIT.toSeconds() * 2, TimeUnit.SECONDS);
            assertThat(r.statusCode()).isEqualTo(200);
            assertThat(r.body()).isEqualTo("queued");
            closing.get(LIMIT.toSeconds() * 2, TimeUnit.SECONDS);

            assertThat(probe.engineShutDownWhenQueueing.get()).as("engine still accepting during graceful shutdown").isFalse();
            assertThat(probe.workqueuesLifecycleRunningWhenQueueing.get()).isTrue();
            assertThat(probe.itemRan.getCount()).as("the request's item ran before close returned").isZero();
            assertThat(probe.delayedRan.getCount()).as("the request's 1h delayed item fired at close").isZero();
            assertThat(recorder.runs()).as("the request's @WorkItem(delay = 1h) ran at close").isEqualTo(1);
            assertThat(engine.isShutdown()).isTrue();
        } finally {
            probe.releaseRequest.countDown();
            if (gracefulShutdownBegan != null) {
                gracefulShutdownBegan.detach();
            }
            ctx.close();
        }
    }
}
