package dev.cmwq.workqueue.spring;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import dev.cmwq.workqueue.Work;
import dev.cmwq.workqueue.Workqueue;
import dev.cmwq.workqueue.Workqueues;
import dev.cmwq.workqueue.WqFlag;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicReference;
import org.junit.jupiter.api.Test;
import org.springframework.boot.autoconfigure.AutoConfigurations;
import org.springframework.boot.test.context.runner.ApplicationContextRunner;

/**
 * {@link WorkqueuesLifecycle} on {@code stop()} / {@code start()} of a context: stop freezes the
 * FREEZABLE queues (their items wait, running ones finish first), other queues keep running, and
 * start thaws them.
 */
class LifecycleTest {

    private static final Duration LIMIT = Duration.ofSeconds(30);

    private final ApplicationContextRunner runner = new ApplicationContextRunner()
            .withConfiguration(AutoConfigurations.of(WorkqueueAutoConfiguration.class))
            .withPropertyValues("workqueue.cpus=2", "workqueue.queues.fz.flags=freezable", "workqueue.queues.plain.max-active=4");

    /** An item that only counts down when it runs. */
    private static Work marker(String name, CountDownLatch ran) {
        return new Work(name, ran::countDown);
    }

    @Test
    void stopFreezesFreezableQueuesWhileOthersRunAndStartThaws() {
        runner.run(ctx -> {
            assertThat(ctx).hasNotFailed();
            Workqueues engine = ctx.getBean(Workqueues.class);
            WorkqueuesLifecycle lifecycle = ctx.getBean(WorkqueuesLifecycle.class);
            Workqueue systemFreezable = ctx.getBean("system_freezable_wq", Workqueue.class);
            Workqueue userFreezable = ctx.getBean("fz", Workqueue.class);
            Workqueue systemWq = ctx.getBean("system_wq", Workqueue.class);
            Workqueue plain = ctx.getBean("plain", Workqueue.class);
            assertThat(systemFreezable.flags()).contains(WqFlag.FREEZABLE);
            assertThat(userFreezable.flags()).contains(WqFlag.FREEZABLE);
            assertThat(plain.flags()).doesNotContain(WqFlag.FREEZABLE);
            assertThat(lifecycle.isRunning()).isTrue();
            assertThat(engine.isFrozen()).isFalse();

            // Running before the stop: freezable queues run items.
            CountDownLatch before = new CountDownLatch(2);
            systemFreezable.queue(marker("before-sys", before));
            userFreezable.queue(marker("before-user", before));
            assertThat(before.await(LIMIT.toSeconds(), TimeUnit.SECONDS)).isTrue();

            ctx.stop();
            assertThat(lifecycle.isRunning()).isFalse();
            assertThat(engine.isFrozen()).as("stop() froze the engine").isTrue();
            assertThat(engine.isShutdown()).as("stop() is not a shutdown").isFalse();

            CountDownLatch held = new CountDownLatch(2);
            assertThat(systemFreezable.queue(marker("held-sys", held))).isTrue();
            assertThat(userFreezable.queue(marker("held-user", held))).isTrue();

            // Non-freezable queues keep running, also for items queued after the held ones.
            CountDownLatch others = new CountDownLatch(2);
            assertThat(systemWq.queue(marker("after-sys", others))).isTrue();
            assertThat(plain.queue(marker("after-plain", others))).isTrue();
            assertThat(others.await(LIMIT.toSeconds(), TimeUnit.SECONDS)).as("non-freezable queues run while stopped").isTrue();

            // The freezable items are still held, waiting on their queues (not started).
            assertThat(held.getCount()).as("no freezable item ran while stopped").isEqualTo(2);
            assertThat(systemFreezable.stats().pending() + systemFreezable.stats().inactive()).isPositive();
            assertThat(userFreezable.stats().pending() + userFreezable.stats().inactive()).isPositive();
            assertThat(systemFreezable.stats().inFlight()).isEqualTo(1);
            assertThat(userFreezable.stats().inFlight()).isEqualTo(1);

            ctx.start();
            assertThat(lifecycle.isRunning()).isTrue();
            assertThat(engine.isFrozen()).as("start() thawed the engine").isFalse();
            assertThat(held.await(LIMIT.toSeconds(), TimeUnit.SECONDS)).as("held items run after start()").isTrue();
            await().atMost(LIMIT).until(() -> systemFreezable.stats().inFlight() == 0 && userFreezable.stats().inFlight() == 0);

            // And freezing is repeatable: stop again, items wait again, start runs them.
            ctx.stop();
            assertThat(engine.isFrozen()).isTrue();
            CountDownLatch heldAgain = new CountDownLatch(1);
            userFreezable.queue(marker("held-again", heldAgain));
            CountDownLatch other = new CountDownLatch(1);
            systemWq.queue(marker("after-again", other));
            assertThat(other.await(LIMIT.toSeconds(), TimeUnit.SECONDS)).isTrue();
            assertThat(heldAgain.getCount()).isEqualTo(1);
            assertThat(userFreezable.stats().pending()).isEqualTo(1);
            ctx.start();
            assertThat(heldAgain.await(LIMIT.toSeconds(), TimeUnit.SECONDS)).isTrue();
        });
    }

    @Test
    void freezableItemsQueuedBeforeStopButNotStartedAreHeldToo() {
        runner.withPropertyValues("workqueue.queues.fz.max-active=1").run(ctx -> {
            assertThat(ctx).hasNotFailed();
            Workqueues engine = ctx.getBean(Workqueues.class);
            Workqueue fz = ctx.getBean("fz", Workqueue.class);
            Workqueue systemWq = ctx.getBean("system_wq", Workqueue.class);
            // A running item on fz (max_active 1 per CPU) keeps the next one on the same CPU waiting behind it.
            CountDownLatch firstStarted = new CountDownLatch(1);
            CountDownLatch releaseFirst = new CountDownLatch(1);
            CountDownLatch secondRan = new CountDownLatch(1);
            fz.queueOn(0, new Work("first", () -> {
                firstStarted.countDown();
                awaitQuietly(releaseFirst);
            }));
            assertThat(firstStarted.await(LIMIT.toSeconds(), TimeUnit.SECONDS)).isTrue();
            assertThat(fz.queueOn(0, marker("second", secondRan))).isTrue();
            assertThat(fz.stats().inactive()).as("second waits behind first").isEqualTo(1);

            CompletableFuture<Void> stopping = runAsync(ctx::stop);
            await().atMost(LIMIT).until(engine::isFrozen);
            releaseFirst.countDown();
            stopping.get(LIMIT.toSeconds() * 2, TimeUnit.SECONDS);

            CountDownLatch other = new CountDownLatch(1);
            systemWq.queue(marker("other", other));
            assertThat(other.await(LIMIT.toSeconds(), TimeUnit.SECONDS)).isTrue();
            assertThat(secondRan.getCount()).as("the waiting item did not start while stopped").isEqualTo(1);
            assertThat(fz.stats().inFlight()).isEqualTo(1);

            ctx.start();
            assertThat(secondRan.await(LIMIT.toSeconds(), TimeUnit.SECONDS)).isTrue();
        });
    }

    @Test
    void stopWaitsForTheRunningFreezableItemToFinish() {
        runner.run(ctx -> {
            assertThat(ctx).hasNotFailed();
            Workqueues engine = ctx.getBean(Workqueues.class);
            WorkqueuesLifecycle lifecycle = ctx.getBean(WorkqueuesLifecycle.class);
            Workqueue fz = ctx.getBean("fz", Workqueue.class);
            CountDownLatch started = new CountDownLatch(1);
            CountDownLatch release = new CountDownLatch(1);
            AtomicBoolean finished = new AtomicBoolean();
            try {
                fz.queue(new Work("long-running", () -> {
                    started.countDown();
                    awaitQuietly(release);
                    finished.set(true);
                }));
                assertThat(started.await(LIMIT.toSeconds(), TimeUnit.SECONDS)).isTrue();

                AtomicReference<Boolean> finishedWhenStopReturned = new AtomicReference<>();
                CompletableFuture<Void> stopping = runAsync(() -> {
                    ctx.stop();
                    finishedWhenStopReturned.set(finished.get());
                });
                // stop() has begun: it froze the engine, and now waits for the running item,
                // which can't end before we release it.
                await().atMost(LIMIT).until(engine::isFrozen);
                assertThat(stopping).as("stop() waits for the running freezable item").isNotDone();
                assertThat(finished).isFalse();

                release.countDown();
                stopping.get(LIMIT.toSeconds() * 2, TimeUnit.SECONDS);
                assertThat(finishedWhenStopReturned.get()).as("the item had finished when stop() returned").isTrue();
                assertThat(lifecycle.isRunning()).isFalse();
                assertThat(fz.stats().completed()).isEqualTo(1);
                assertThat(fz.stats().inFlight()).isZero();
            } finally {
                release.countDown();
            }
            ctx.start();
            assertThat(engine.isFrozen()).isFalse();
        });
    }

    @Test
    void stopAndStartWithoutFreezableWorkAreHarmlessAndLifecycleReportsItsPhase() {
        runner.run(ctx -> {
            WorkqueuesLifecycle lifecycle = ctx.getBean(WorkqueuesLifecycle.class);
            assertThat(lifecycle.getPhase()).isEqualTo(WorkqueuesLifecycle.PHASE);
            assertThat(lifecycle.isAutoStartup()).isTrue();
            ctx.stop();
            ctx.start();
            Workqueues engine = ctx.getBean(Workqueues.class);
            assertThat(engine.isFrozen()).isFalse();
            CountDownLatch ran = new CountDownLatch(List.of("a", "b").size());
            ctx.getBean("system_freezable_wq", Workqueue.class).queue(marker("a", ran));
            ctx.getBean("fz", Workqueue.class).queue(marker("b", ran));
            assertThat(ran.await(LIMIT.toSeconds(), TimeUnit.SECONDS)).isTrue();
        });
    }

    static void awaitQuietly(CountDownLatch latch) {
        try {
            latch.await(60, TimeUnit.SECONDS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    /** Runs {@code r} on a fresh platform thread (not the common pool, which may be tiny on 2 cores). */
    static CompletableFuture<Void> runAsync(ThrowingRunnable r) {
        CompletableFuture<Void> f = new CompletableFuture<>();
        Thread t = new Thread(() -> {
            try {
                r.run();
                f.complete(null);
            } catch (Throwable e) {
                f.completeExceptionally(e);
            }
        }, "test-async");
        t.setDaemon(true);
        t.start();
        return f;
    }

    @FunctionalInterface
    interface ThrowingRunnable {
        void run() throws Exception;
    }
}
