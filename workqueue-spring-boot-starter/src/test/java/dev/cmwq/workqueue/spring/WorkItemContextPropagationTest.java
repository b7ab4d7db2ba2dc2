package dev.cmwq.workqueue.spring;

import static dev.cmwq.workqueue.spring.WorkItemTestSupport.PATIENCE;
import static org.assertj.core.api.Assertions.assertThat;

import dev.cmwq.workqueue.Workqueue;
import dev.cmwq.workqueue.spring.WorkItemTestSupport.Blocker;
import io.micrometer.context.ContextRegistry;
import io.micrometer.observation.Observation;
import io.micrometer.observation.ObservationHandler;
import io.micrometer.observation.ObservationRegistry;
import io.micrometer.observation.contextpropagation.ObservationThreadLocalAccessor;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.slf4j.MDC;
import org.springframework.boot.test.context.runner.ApplicationContextRunner;
import org.springframework.context.ApplicationContext;
import org.springframework.context.annotation.Bean;
import org.springframework.context.annotation.Configuration;

/**
 * The caller's MDC and Micrometer observation are captured when the item is queued, restored
 * while it runs, and the worker's own context is put back afterwards.
 */
class WorkItemContextPropagationTest {

    /** What an item saw: its thread, its MDC, the current observation (or null). */
    record Seen(String thread, long threadId, Map<String, String> mdc, Observation observation) {
    }

    static class Probe {
        private final ObservationRegistry registry;

        Probe(ObservationRegistry registry) {
            this.registry = registry;
        }

        private Seen now() {
            Map<String, String> mdc = MDC.getCopyOfContextMap();
            return new Seen(Thread.currentThread().getName(), Thread.currentThread().threadId(), mdc == null ? Map.of() : mdc, registry.getCurrentObservation());
        }

        @WorkItem(queue = "serial")
        public CompletableFuture<Seen> look(String key) {
            return CompletableFuture.completedFuture(now());
        }
    }

    /** Records the scopes opened, so the test can see that the item's scope is the caller's observation's. */
    static class ScopeRecorder implements ObservationHandler<Observation.Context> {
        private final List<String> events = new CopyOnWriteArrayList<>();

        @Override
        public void onScopeOpened(Observation.Context context) {
            events.add("opened " + context.getName() + " on " + Thread.currentThread().getName());
        }

        @Override
        public void onScopeClosed(Observation.Context context) {
            events.add("closed " + context.getName() + " on " + Thread.currentThread().getName());
        }

        @Override
        public boolean supportsContext(Observation.Context context) {
            return true;
        }

        List<String> events() {
            return List.copyOf(events);
        }
    }

    @Configuration(proxyBeanMethods = false)
    static class Config {
        @Bean
        Blocker blocker() {
            return new Blocker();
        }

        @Bean
        ScopeRecorder scopeRecorder() {
            return new ScopeRecorder();
        }

        @Bean
        ObservationRegistry observationRegistry(ScopeRecorder recorder) {
            ObservationRegistry registry = ObservationRegistry.create();
            registry.observationConfig().observationHandler(recorder);
            return registry;
        }

        @Bean
        Probe probe(ObservationRegistry registry) {
            return new Probe(registry);
        }
    }

    private final ApplicationContextRunner runner = WorkItemTestSupport.runner().withUserConfiguration(Config.class);

    @AfterEach
    void cleanCaller() {
        MDC.clear();
    }

    private static Seen get(CompletableFuture<Seen> f) throws Exception {
        return f.get(PATIENCE.toSeconds(), TimeUnit.SECONDS);
    }

    /**
     * {@code next} if it ran on {@code first}'s worker thread (the usual case: on the ordered queue
     * the worker that ends an item activates the next one and takes it itself, under the same pool
     * lock); otherwise probes, queued without context, until one runs there. Every probe must see
     * a clean context.
     */
    private static Seen laterOnTheSameWorker(ApplicationContext ctx, Probe probe, Seen first, Seen next) throws Exception {
        if (next.threadId() == first.threadId()) {
            return next;
        }
        Workqueue serial = ctx.getBean("serial", Workqueue.class);
        for (int i = 0; i < 20; i++) {
            WorkItemTestSupport.eventually().until(() -> serial.stats().inFlight() == 0);
            Seen later = get(probe.look("later-" + i));
            assertThat(later.mdc()).as("no MDC leaks into a later item on %s", later.thread()).isEmpty();
            assertThat(later.observation()).as("no observation leaks into a later item on %s", later.thread()).isNull();
            if (later.threadId() == first.threadId()) {
                return later;
            }
        }
        throw new AssertionError("no later item ran on " + first.thread() + ", the worker that ran the item");
    }

    @Test
    void theCallersMdcAtQueueingIsTheItemsAndTheWorkersIsCleanAfterwards() {
        runner.run(ctx -> {
            Blocker blocker = ctx.getBean(Blocker.class);
            Probe probe = ctx.getBean(Probe.class);
            blocker.hold();
            blocker.awaitHeld();
            CompletableFuture<Seen> withMdc;
            CompletableFuture<Seen> without;
            try {
                MDC.put("requestId", "r-1");
                withMdc = probe.look("a");
                MDC.put("requestId", "r-2"); // after queueing: not the item's
                MDC.clear();
                without = probe.look("b"); // queued without MDC, runs after "a" on the ordered queue
            } finally {
                blocker.release();
            }
            Seen a = get(withMdc);
            Seen b = get(without);
            assertThat(a.thread()).startsWith("kworker");
            assertThat(a.mdc()).as("the MDC as it was when the item was queued").containsExactly(Map.entry("requestId", "r-1"));
            assertThat(b.mdc()).as("an item queued without MDC sees none (ran on %s after %s)", b.thread(), a.thread())
                    .isEmpty();

            // The worker that ran "a" must have its own (empty) MDC back.
            Seen later = laterOnTheSameWorker(ctx, probe, a, b);
            assertThat(later.mdc()).as("MDC on %s after the item", later.thread()).isEmpty();
        });
    }

    @Test
    void theObservationAccessorIsRegisteredThroughTheServiceLoader() {
        assertThat(ContextRegistry.getInstance().getThreadLocalAccessors())
                .as("micrometer-observation's META-INF/services registers it: no explicit registration in these tests")
                .anyMatch(a -> a instanceof ObservationThreadLocalAccessor);
    }

    @Test
    void theCallersObservationIsCurrentInTheItem() {
        runner.run(ctx -> {
            Blocker blocker = ctx.getBean(Blocker.class);
            ObservationRegistry registry = ctx.getBean(ObservationRegistry.class);
            ScopeRecorder recorder = ctx.getBean(ScopeRecorder.class);
            Probe probe = ctx.getBean(Probe.class);
            Observation observation = Observation.start("caller", registry);
            blocker.hold();
            blocker.awaitHeld();
            Seen inside;
            Seen after;
            try {
                CompletableFuture<Seen> f;
                CompletableFuture<Seen> g;
                try {
                    try (Observation.Scope scope = observation.openScope()) {
                        assertThat(registry.getCurrentObservation()).isSameAs(observation);
                        f = probe.look("a");
                    }
                    assertThat(registry.getCurrentObservation()).as("the caller's scope is closed").isNull();
                    g = probe.look("b"); // queued without an observation, runs after "a" on the ordered queue
                } finally {
                    blocker.release();
                }
                inside = get(f);
                after = get(g);
            } finally {
                observation.stop();
            }
            assertThat(inside.thread()).startsWith("kworker");
            assertThat(inside.observation()).as("current in the item").isSameAs(observation);
            assertThat(recorder.events()).contains("opened caller on " + inside.thread());
            WorkItemTestSupport.eventually().until(() -> recorder.events().contains("closed caller on " + inside.thread()));
            assertThat(after.observation()).as("an item queued without an observation sees none").isNull();

            // Afterwards the worker that ran "a" has no current observation.
            Seen later = laterOnTheSameWorker(ctx, probe, inside, after);
            assertThat(later.observation()).as("observation on %s after the item", later.thread()).isNull();
            assertThat(later.mdc()).isEmpty();
        });
    }
}
