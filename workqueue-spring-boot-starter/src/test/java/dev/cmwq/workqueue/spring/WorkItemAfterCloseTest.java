package dev.cmwq.workqueue.spring;

import static dev.cmwq.workqueue.spring.WorkItemTestSupport.PATIENCE;
import static dev.cmwq.workqueue.spring.WorkItemTestSupport.eventually;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatIllegalStateException;

import java.util.concurrent.CompletableFuture;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicReference;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;
import org.springframework.boot.test.system.CapturedOutput;
import org.springframework.boot.test.system.OutputCaptureExtension;
import org.springframework.boot.test.context.runner.ApplicationContextRunner;
import org.springframework.context.annotation.Bean;
import org.springframework.context.annotation.Configuration;

/** Once the context is closed a call is refused with an exception, never dropped silently. */
@ExtendWith(OutputCaptureExtension.class)
class WorkItemAfterCloseTest {

    static class Jobs {
        private final AtomicInteger runs = new AtomicInteger();

        public int runs() {
            return runs.get();
        }

        @WorkItem(queue = "parallel")
        public boolean nudge(String key) {
            runs.incrementAndGet();
            return true;
        }

        @WorkItem(queue = "parallel")
        public void fire(String key) {
            runs.incrementAndGet();
        }

        @WorkItem(queue = "system_wq")
        public CompletableFuture<String> compute(String key) {
            runs.incrementAndGet();
            return CompletableFuture.completedFuture(key);
        }

        @WorkItem(queue = "parallel", delay = "10s")
        public CompletableFuture<String> later(String key) {
            runs.incrementAndGet();
            return CompletableFuture.completedFuture("later " + key);
        }

        @WorkItem(queue = "serial", delay = "1s", debounce = true)
        public boolean settle(String key) {
            runs.incrementAndGet();
            return true;
        }

        @WorkItem(queue = "system_freezable_wq")
        public CompletableFuture<String> frozen(String key) {
            runs.incrementAndGet();
            return CompletableFuture.completedFuture("thawed " + key);
        }

        @WorkItem(queue = "parallel", coalesce = false)
        public boolean each(String key) {
            runs.incrementAndGet();
            return true;
        }
    }

    @Configuration(proxyBeanMethods = false)
    static class Config {
        @Bean
        Jobs jobs() {
            return new Jobs();
        }
    }

    private final ApplicationContextRunner runner = WorkItemTestSupport.runner().withUserConfiguration(Config.class);

    @Test
    void callsAfterCloseThrowIllegalStateException() {
        AtomicReference<Jobs> ref = new AtomicReference<>();
        runner.run(ctx -> {
            Jobs jobs = ctx.getBean(Jobs.class);
            ref.set(jobs);
            assertThat(jobs.compute("open")).succeedsWithin(PATIENCE).isEqualTo("open");
            assertThat(jobs.nudge("open")).isTrue();
            eventually().until(() -> jobs.runs() == 2 && WorkItemTestSupport.liveItems(ctx) == 0);
        });
        // The runner has closed the context (and drained the engine).
        Jobs jobs = ref.get();
        int runs = jobs.runs();
        assertThatIllegalStateException().isThrownBy(() -> jobs.nudge("open")); // a key that was used before
        assertThatIllegalStateException().isThrownBy(() -> jobs.nudge("new"));
        assertThatIllegalStateException().isThrownBy(() -> jobs.fire("x"));
        assertThatIllegalStateException().isThrownBy(() -> jobs.compute("x"));
        assertThatIllegalStateException().isThrownBy(() -> jobs.later("x"));
        assertThatIllegalStateException().isThrownBy(() -> jobs.settle("x"));
        assertThatIllegalStateException().isThrownBy(() -> jobs.each("x"));
        assertThat(jobs.runs()).as("nothing ran").isEqualTo(runs);
    }

    @Test
    void anArmedItemRunsWhenTheContextClosesRatherThanBeingDropped() {
        AtomicReference<Jobs> ref = new AtomicReference<>();
        AtomicReference<CompletableFuture<String>> later = new AtomicReference<>();
        runner.run(ctx -> {
            Jobs jobs = ctx.getBean(Jobs.class);
            ref.set(jobs);
            later.set(jobs.later("k")); // armed for 10 s; the context closes long before
            assertThat(later.get()).isNotDone();
        });
        assertThat(later.get()).as("fired by the drain on close").succeedsWithin(PATIENCE).isEqualTo("later k");
        assertThat(ref.get().runs()).isEqualTo(1);
    }

    @Test
    void anItemQueuedWhileTheContextIsStoppedRunsWhenItStartsAgain() {
        runner.run(ctx -> {
            Jobs jobs = ctx.getBean(Jobs.class);
            ctx.stop(); // freezes the freezable queues
            CompletableFuture<String> f = jobs.frozen("k");
            ctx.start();
            assertThat(f).succeedsWithin(PATIENCE).isEqualTo("thawed k");
        });
    }

    @Test
    void anItemQueuedWhileTheContextIsStoppedRunsWhenItClosesRatherThanBeingDropped() {
        AtomicReference<CompletableFuture<String>> frozen = new AtomicReference<>();
        AtomicReference<Jobs> ref = new AtomicReference<>();
        runner.run(ctx -> {
            Jobs jobs = ctx.getBean(Jobs.class);
            ref.set(jobs);
            ctx.stop();
            frozen.set(jobs.frozen("k"));
        });
        assertThat(frozen.get()).succeedsWithin(PATIENCE).isEqualTo("thawed k");
        assertThatIllegalStateException().isThrownBy(() -> ref.get().frozen("again"));
    }

    /** The lifecycle drains the engine on close, within spring.lifecycle.timeout-per-shutdown-phase. */
    @Test
    void closeDrainsThroughTheLifecycle(CapturedOutput output) {
        runner.run(ctx -> assertThat(ctx).hasNotFailed());
        assertThat(output).contains("workqueue: engine 'cmwq' drained and stopped");
    }

    /**
     * After {@code ctx.stop()} the lifecycle reports not running, so the context's close never calls
     * its {@code stop()}: the drain is left to the engine's destroy method ({@code close()}:
     * {@code shutdown(30s)}), which ignores spring.lifecycle.timeout-per-shutdown-phase and runs
     * after the context's other beans are being destroyed.
     */
    @Test
    void closeAfterStopStillDrainsThroughTheLifecycle(CapturedOutput output) {
        runner.run(ctx -> ctx.stop());
        assertThat(output).contains("workqueue: froze the freezable workqueues");
        assertThat(output).contains("workqueue: engine 'cmwq' drained and stopped");
    }
}
