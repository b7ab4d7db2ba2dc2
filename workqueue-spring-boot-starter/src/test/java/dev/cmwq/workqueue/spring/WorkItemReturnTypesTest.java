package dev.cmwq.workqueue.spring;

import static dev.cmwq.workqueue.spring.WorkItemTestSupport.PATIENCE;
import static dev.cmwq.workqueue.spring.WorkItemTestSupport.eventually;
import static dev.cmwq.workqueue.spring.WorkItemTestSupport.liveItems;
import static org.assertj.core.api.Assertions.assertThat;

import dev.cmwq.workqueue.Workqueue;
import dev.cmwq.workqueue.WorkqueueStats;
import dev.cmwq.workqueue.spring.WorkItemTestSupport.Blocker;
import java.io.IOException;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionStage;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.Future;
import java.util.concurrent.FutureTask;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicReference;
import org.junit.jupiter.api.Test;
import org.springframework.boot.test.context.runner.ApplicationContextRunner;
import org.springframework.context.annotation.Bean;
import org.springframework.context.annotation.Configuration;

/**
 * What a {@link WorkItem} method returns to its caller: nothing, whether it queued, or a future
 * of that execution's result; and what becomes of a void item's exception.
 */
class WorkItemReturnTypesTest {

    static class Results {
        private final ConcurrentHashMap<String, AtomicInteger> runs = new ConcurrentHashMap<>();
        private final AtomicReference<String> voidThread = new AtomicReference<>();
        private final CountDownLatch slowStarted = new CountDownLatch(1);
        private final CountDownLatch slowRelease = new CountDownLatch(1);
        private final AtomicInteger explodeCalls = new AtomicInteger();

        private int count(String key) {
            return runs.computeIfAbsent(key, k -> new AtomicInteger()).incrementAndGet();
        }

        public int runs(String key) {
            AtomicInteger n = runs.get(key);
            return n == null ? 0 : n.get();
        }

        @WorkItem(queue = "parallel")
        public void plain(String key) {
            voidThread.set(Thread.currentThread().getName());
            count(key);
        }

        public String voidThread() {
            return voidThread.get();
        }

        @WorkItem(queue = "parallel")
        public CompletableFuture<String> value(String v) {
            return CompletableFuture.completedFuture(v + "!");
        }

        @WorkItem(queue = "parallel")
        public CompletableFuture<String> fail(String message) {
            throw new IllegalStateException(message);
        }

        @WorkItem(queue = "parallel")
        public CompletableFuture<String> failedStage(String message) {
            return CompletableFuture.failedFuture(new IOException(message));
        }

        @WorkItem(queue = "parallel")
        public CompletableFuture<String> checked(String message) throws IOException {
            throw new IOException(message);
        }

        @WorkItem(queue = "serial")
        public CompletableFuture<Integer> numbered(String key) {
            return CompletableFuture.completedFuture(count("numbered-" + key));
        }

        @WorkItem(queue = "parallel")
        public CompletableFuture<Integer> slow(String key) {
            int n = count("slow-" + key);
            slowStarted.countDown();
            WorkItemTestSupport.await(slowRelease);
            return CompletableFuture.completedFuture(n);
        }

        public void awaitSlowStarted() {
            WorkItemTestSupport.await(slowStarted);
        }

        public void releaseSlow() {
            slowRelease.countDown();
        }

        @WorkItem(queue = "parallel")
        public CompletionStage<String> stage(String v) {
            return CompletableFuture.completedFuture("stage " + v);
        }

        @WorkItem(queue = "parallel")
        public Future<String> future(String v) {
            return CompletableFuture.completedFuture("future " + v);
        }

        /** A {@code Future} that is not a {@code CompletionStage}. */
        @WorkItem(queue = "parallel")
        public Future<String> task(String v) {
            FutureTask<String> t = new FutureTask<>(() -> "task " + v);
            t.run();
            return t;
        }

        @WorkItem(queue = "parallel")
        public Future<String> failingTask(String v) {
            FutureTask<String> t = new FutureTask<>(() -> {
                throw new IOException("task " + v);
            });
            t.run();
            return t;
        }

        /** Fails on its first call only. */
        @WorkItem(queue = "failing")
        public void explode(String key) {
            count("explode-" + key);
            if (explodeCalls.incrementAndGet() == 1) {
                throw new IllegalStateException("first run fails on purpose");
            }
        }
    }

    @Configuration(proxyBeanMethods = false)
    static class Config {
        @Bean
        Blocker blocker() {
            return new Blocker();
        }

        @Bean
        Results results() {
            return new Results();
        }
    }

    private final ApplicationContextRunner runner = WorkItemTestSupport.runner()
            .withPropertyValues("workqueue.queues.failing.flags=unbound")
            .withUserConfiguration(Config.class);

    @Test
    void voidMethodRunsInAWorker() {
        runner.run(ctx -> {
            Results r = ctx.getBean(Results.class);
            r.plain("v");
            eventually().until(() -> r.runs("v") == 1);
            assertThat(r.voidThread()).startsWith("kworker").isNotEqualTo(Thread.currentThread().getName());
            eventually().until(() -> liveItems(ctx) == 0);
        });
    }

    @Test
    void completableFutureCompletesWithTheResult() {
        runner.run(ctx -> {
            Results r = ctx.getBean(Results.class);
            assertThat(r.value("x")).succeedsWithin(PATIENCE).isEqualTo("x!");
        });
    }

    @Test
    void completableFutureCompletesExceptionallyWithTheThrownException() {
        runner.run(ctx -> {
            Results r = ctx.getBean(Results.class);
            assertThat(r.fail("boom")).failsWithin(PATIENCE).withThrowableOfType(ExecutionException.class)
                    .havingCause().isInstanceOf(IllegalStateException.class).withMessage("boom");
            assertThat(r.checked("checked boom")).as("a checked exception, unwrapped")
                    .failsWithin(PATIENCE).withThrowableOfType(ExecutionException.class)
                    .havingCause().isInstanceOf(IOException.class).withMessage("checked boom");
            assertThat(r.failedStage("stage boom")).as("a returned failed future")
                    .failsWithin(PATIENCE).withThrowableOfType(ExecutionException.class)
                    .havingCause().isInstanceOf(IOException.class).withMessage("stage boom");
            eventually().until(() -> liveItems(ctx) == 0);
            // The item's caller has the exception: the run itself did not fail.
            assertThat(ctx.getBean("parallel", Workqueue.class).stats().failed()).isZero();
        });
    }

    @Test
    void absorbedCallsShareThePendingFuture() {
        runner.run(ctx -> {
            Blocker blocker = ctx.getBean(Blocker.class);
            Results r = ctx.getBean(Results.class);
            blocker.hold();
            blocker.awaitHeld();
            CompletableFuture<Integer> f1;
            CompletableFuture<Integer> f2;
            CompletableFuture<Integer> other;
            try {
                f1 = r.numbered("k");
                f2 = r.numbered("k");
                other = r.numbered("other");
                assertThat(f2).as("absorbed: the pending run's future").isSameAs(f1);
                assertThat(other).as("another item").isNotSameAs(f1);
                assertThat(f1).isNotDone();
            } finally {
                blocker.release();
            }
            assertThat(f1).succeedsWithin(PATIENCE).isEqualTo(1);
            assertThat(other).succeedsWithin(PATIENCE).isEqualTo(1);
            eventually().until(() -> liveItems(ctx) == 0);
            assertThat(r.runs("numbered-k")).isEqualTo(1);
        });
    }

    @Test
    void aCallWhileRunningGetsTheNextRunsFuture() {
        runner.run(ctx -> {
            Results r = ctx.getBean(Results.class);
            CompletableFuture<Integer> f1 = r.slow("k");
            CompletableFuture<Integer> f2;
            CompletableFuture<Integer> f3;
            r.awaitSlowStarted();
            try {
                f2 = r.slow("k");
                f3 = r.slow("k");
                assertThat(f2).as("called while running: a new run, a new future").isNotSameAs(f1);
                assertThat(f3).as("the next run is pending: absorbed into it").isSameAs(f2);
                assertThat(f1).isNotDone();
            } finally {
                r.releaseSlow();
            }
            assertThat(f1).succeedsWithin(PATIENCE).isEqualTo(1);
            assertThat(f2).succeedsWithin(PATIENCE).isEqualTo(2);
            eventually().until(() -> liveItems(ctx) == 0);
            assertThat(r.runs("slow-k")).isEqualTo(2);
        });
    }

    @Test
    void completionStageAndFutureReturnTypes() {
        runner.run(ctx -> {
            Results r = ctx.getBean(Results.class);
            assertThat(r.stage("s")).succeedsWithin(PATIENCE).isEqualTo("stage s");
            assertThat(r.future("f")).succeedsWithin(PATIENCE).isEqualTo("future f");
            assertThat(r.task("t")).as("a plain Future's value").succeedsWithin(PATIENCE).isEqualTo("task t");
            assertThat(r.failingTask("t")).as("a plain Future's failure, unwrapped")
                    .failsWithin(PATIENCE).withThrowableOfType(ExecutionException.class)
                    .havingCause().isInstanceOf(IOException.class).withMessage("task t");
        });
    }

    @Test
    void aVoidItemThatThrowsIsCountedAsFailedAndTheNextCallStillWorks() {
        runner.run(ctx -> {
            Results r = ctx.getBean(Results.class);
            Workqueue failing = ctx.getBean("failing", Workqueue.class);
            assertThat(failing.stats().failed()).isZero();
            r.explode("k");
            eventually().until(() -> failing.stats().failed() == 1);
            eventually().until(() -> liveItems(ctx) == 0);
            r.explode("k"); // the same item again
            eventually().until(() -> failing.stats().completed() == 1);
            WorkqueueStats stats = failing.stats();
            assertThat(stats.failed()).isEqualTo(1);
            assertThat(stats.completed()).isEqualTo(1);
            assertThat(r.runs("explode-k")).isEqualTo(2);
            eventually().until(() -> liveItems(ctx) == 0);
        });
    }
}
