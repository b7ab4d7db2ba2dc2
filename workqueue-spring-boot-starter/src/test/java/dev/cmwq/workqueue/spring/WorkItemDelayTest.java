package dev.cmwq.workqueue.spring;

import static dev.cmwq.workqueue.spring.WorkItemTestSupport.eventually;
import static dev.cmwq.workqueue.spring.WorkItemTestSupport.liveItems;
import static org.assertj.core.api.Assertions.assertThat;

import dev.cmwq.workqueue.spring.WorkItemTestSupport.Blocker;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.locks.LockSupport;
import org.junit.jupiter.api.Test;
import org.springframework.boot.test.context.runner.ApplicationContextRunner;
import org.springframework.context.annotation.Bean;
import org.springframework.context.annotation.Configuration;

/**
 * {@code delay} ({@code queue_delayed_work()}), {@code debounce} ({@code mod_delayed_work()}) and
 * placeholders in them. Times are only ever bounded from below: the engine's timer fires at or
 * after its deadline, never before; how much later depends on the machine.
 */
class WorkItemDelayTest {

    static final long MS = 1_000_000L;

    /** Records when each key's runs happened (System.nanoTime). */
    static class Delays {
        private final ConcurrentHashMap<String, ConcurrentLinkedQueue<Long>> runs = new ConcurrentHashMap<>();

        private void record(String key) {
            runs.computeIfAbsent(key, k -> new ConcurrentLinkedQueue<>()).add(System.nanoTime());
        }

        public List<Long> runs(String key) {
            ConcurrentLinkedQueue<Long> q = runs.get(key);
            return q == null ? List.of() : new ArrayList<>(q);
        }

        @WorkItem(queue = "parallel", delay = "300ms")
        public boolean later(String key) {
            record("later-" + key);
            return true;
        }

        @WorkItem(queue = "serial", delay = "300ms")
        public boolean laterBehindBlocker(String key) {
            record("behind-" + key);
            return true;
        }

        @WorkItem(queue = "serial", delay = "500ms", debounce = true)
        public boolean settle(String key) {
            record("settle-" + key);
            return true;
        }

        @WorkItem(queue = "${my.queue}", delay = "${my.delay}")
        public boolean configured(String key) {
            record("configured-" + key);
            return true;
        }
    }

    @Configuration(proxyBeanMethods = false)
    static class Config {
        @Bean
        Blocker blocker() {
            return new Blocker();
        }

        @Bean
        Delays delays() {
            return new Delays();
        }
    }

    private final ApplicationContextRunner runner = WorkItemTestSupport.runner()
            .withPropertyValues("my.delay=250ms", "my.queue=parallel")
            .withUserConfiguration(Config.class);

    @Test
    void aDelayedItemDoesNotRunBeforeItsDelay() {
        runner.run(ctx -> {
            Delays d = ctx.getBean(Delays.class);
            long t0 = System.nanoTime();
            assertThat(d.later("a")).isTrue();
            eventually().until(() -> d.runs("later-a").size() == 1 && liveItems(ctx) == 0);
            assertThat(d.runs("later-a").getFirst() - t0).as("ran after its delay (ns)").isGreaterThanOrEqualTo(300 * MS);
        });
    }

    @Test
    void aSecondCallWithinTheDelayIsAbsorbed() {
        runner.run(ctx -> {
            Blocker blocker = ctx.getBean(Blocker.class);
            Delays d = ctx.getBean(Delays.class);
            // The blocker keeps the item pending even if the test thread stalls past the delay: once
            // the timer fires the item waits, still pending, behind the blocker on the ordered queue.
            blocker.hold();
            blocker.awaitHeld();
            long t0 = System.nanoTime();
            try {
                assertThat(d.laterBehindBlocker("a")).isTrue();
                assertThat(d.laterBehindBlocker("a")).as("armed: absorbed").isFalse();
                assertThat(d.laterBehindBlocker("a")).as("armed: absorbed").isFalse();
                assertThat(d.laterBehindBlocker("b")).as("another key").isTrue();
            } finally {
                blocker.release();
            }
            eventually().until(() -> liveItems(ctx) == 0);
            assertThat(d.runs("behind-a")).hasSize(1);
            assertThat(d.runs("behind-b")).hasSize(1);
            assertThat(d.runs("behind-a").getFirst() - t0).as("ran after its delay (ns)").isGreaterThanOrEqualTo(300 * MS);
        });
    }

    @Test
    void debounceRunsOnceAfterTheLastCallOfABurst() {
        runner.run(ctx -> {
            Blocker blocker = ctx.getBean(Blocker.class);
            Delays d = ctx.getBean(Delays.class);
            Duration delay = Duration.ofMillis(500);
            int calls = 16; // 16 calls 50 ms apart: the burst outlasts the delay, so only a moved timer runs it after the last call
            // Held so that a stall of the test thread longer than the delay can't let the item run
            // mid-burst: a fired item waits behind the blocker, still pending, and the next call
            // takes it back and re-arms it.
            blocker.hold();
            blocker.awaitHeld();
            List<Boolean> results = new ArrayList<>();
            long firstCall = 0;
            long lastCall = 0;
            try {
                for (int i = 0; i < calls; i++) {
                    if (i > 0) {
                        space(50 * MS); // spacing of the burst only
                    }
                    lastCall = System.nanoTime(); // before the call: the timer is armed after this
                    if (i == 0) {
                        firstCall = lastCall;
                    }
                    results.add(d.settle("k"));
                }
            } finally {
                blocker.release();
            }
            assertThat(results.getFirst()).as("the first call queues").isTrue();
            assertThat(results.subList(1, calls)).as("the others move the pending item's timer").containsOnly(false);
            eventually().until(() -> d.runs("settle-k").size() >= 1 && liveItems(ctx) == 0);
            List<Long> runs = d.runs("settle-k");
            assertThat(runs).as("exactly one run for the burst").hasSize(1);
            assertThat(lastCall - firstCall).as("the burst outlasted the delay").isGreaterThan(delay.toNanos());
            assertThat(runs.getFirst() - lastCall).as("ran a full delay after the last call (ns)")
                    .isGreaterThanOrEqualTo(delay.toNanos());
        });
    }

    /** Spaces the calls of a burst (parkNanos may return early: park until the time has passed). */
    private static void space(long nanos) {
        long until = System.nanoTime() + nanos;
        for (long left = nanos; left > 0; left = until - System.nanoTime()) {
            LockSupport.parkNanos(left);
        }
    }

    @Test
    void placeholdersInQueueAndDelayAreResolved() {
        runner.run(ctx -> {
            Delays d = ctx.getBean(Delays.class);
            WorkItemInterceptor.Spec spec = ctx.getBean(WorkItemAnnotationBeanPostProcessor.class).interceptor()
                    .spec(Delays.class.getMethod("configured", String.class));
            assertThat(spec.delay()).isEqualTo(Duration.ofMillis(250));
            assertThat(spec.wq().name()).isEqualTo("parallel");
            long t0 = System.nanoTime();
            assertThat(d.configured("a")).isTrue();
            eventually().until(() -> d.runs("configured-a").size() == 1 && liveItems(ctx) == 0);
            assertThat(d.runs("configured-a").getFirst() - t0).as("ran after its delay (ns)").isGreaterThanOrEqualTo(250 * MS);
        });
    }
}
