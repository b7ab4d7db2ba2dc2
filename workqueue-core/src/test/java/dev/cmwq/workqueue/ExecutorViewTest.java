package dev.cmwq.workqueue;

import static dev.cmwq.workqueue.TestWaits.*;

import static java.util.concurrent.TimeUnit.MILLISECONDS;
import static java.util.concurrent.TimeUnit.SECONDS;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.io.IOException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.concurrent.Callable;
import java.util.concurrent.CancellationException;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Future;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicReference;
import java.util.concurrent.locks.LockSupport;
import org.awaitility.Awaitility;
import org.awaitility.core.ConditionFactory;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * {@link Workqueue#asExecutor()}: an {@link ExecutorService} whose tasks are fresh work items on the
 * queue. Futures work (values, exceptions, cancel of a not-yet-started task takes it off the queue);
 * shutting the view down waits for its own tasks only and leaves the queue (even a system queue)
 * working; {@code shutdownNow} returns the tasks that never started.
 */
@Timeout(60)
class ExecutorViewTest {

    private static Workqueues engine(String name) {
        return Workqueues.builder().cpus(2).name(name).build();
    }

    /** Waits for {@code l} inside a blocking section, so the pool knows this worker sleeps. */
    private static void blockOn(CountDownLatch l) {
        Workqueues.blocking(() -> TestWaits.plainWait(l));
    }

    /** Occupies an ordered queue with a work item queued directly on it, until {@code release}. */
    private static void occupy(Workqueue ordered, CountDownLatch release) {
        CountDownLatch started = new CountDownLatch(1);
        assertThat(ordered.queue(new Work("direct-blocker", () -> {
            started.countDown();
            blockOn(release);
        }))).isTrue();
        awaitLatch(started);
    }

    /** Queues an item that notes whether its worker started it interrupted; the latch opens when it ran. */
    private static CountDownLatch queueNoting(Workqueue q, AtomicReference<Boolean> interrupted) {
        CountDownLatch ran = new CountDownLatch(1);
        assertThat(q.queue(new Work("next", () -> {
            interrupted.set(Thread.currentThread().isInterrupted());
            ran.countDown();
        }))).isTrue();
        return ran;
    }

    /** Runs a marker on an ordered queue and waits for it: everything queued before has had its turn. */
    private static void barrier(Workqueue ordered) {
        CountDownLatch done = new CountDownLatch(1);
        assertThat(ordered.queue(new Work("barrier", done::countDown))).isTrue();
        awaitLatch(done);
    }

    @Test
    void executeAndSubmitRunOnTheQueuesWorkers() throws Exception {
        try (Workqueues e = engine("ev-threads")) {
            Workqueue bound = e.alloc("ev-bound", 0);
            Workqueue unbound = e.alloc("ev-unbound", 0, WqFlag.UNBOUND);
            for (Workqueue q : List.of(bound, unbound)) {
                ExecutorService ex = q.asExecutor();
                AtomicReference<String> executed = new AtomicReference<>();
                CountDownLatch ran = new CountDownLatch(1);
                ex.execute(() -> {
                    executed.set(Thread.currentThread().getName());
                    ran.countDown();
                });
                awaitLatch(ran);
                String submitted = ex.submit(() -> Thread.currentThread().getName()).get(30, SECONDS);
                String pattern = q == bound ? "kworker/[01]:\\d+-ev-bound" : "kworker/u\\d+:\\d+-ev-unbound";
                assertThat(executed.get()).matches(pattern);
                assertThat(submitted).matches(pattern);
                ex.shutdown();
                assertThat(ex.awaitTermination(30, SECONDS)).isTrue();
            }
            assertThat(bound.stats().started()).isEqualTo(2);
            assertThat(unbound.stats().started()).isEqualTo(2);
        }
    }

    @Test
    void equalTasksAreNotAbsorbed() throws Exception {
        try (Workqueues e = engine("ev-absorb")) {
            Workqueue ordered = e.allocOrdered("ev-absorb");
            ExecutorService ex = ordered.asExecutor();
            AtomicInteger runs = new AtomicInteger();
            Runnable same = runs::incrementAndGet;
            Callable<Integer> sameCallable = runs::incrementAndGet;
            CountDownLatch release = new CountDownLatch(1);
            List<Future<?>> futures = new ArrayList<>();
            try {
                occupy(ordered, release);
                // All pending at once behind the blocker: a plain work item would absorb the repeats.
                ex.execute(same);
                ex.execute(same);
                futures.add(ex.submit(same));
                futures.add(ex.submit(same));
                futures.add(ex.submit(sameCallable));
                futures.add(ex.submit(sameCallable));
                assertThat(ordered.stats().inFlight()).as("blocker + six fresh items").isEqualTo(7);
            } finally {
                release.countDown();
            }
            for (Future<?> f : futures) {
                f.get(30, SECONDS);
            }
            barrier(ordered);
            assertThat(runs.get()).isEqualTo(6);
        }
    }

    @Test
    void futuresCarryValuesAndExceptions() throws Exception {
        try (Workqueues e = engine("ev-futures")) {
            ExecutorService ex = e.alloc("ev-futures", 0, WqFlag.UNBOUND).asExecutor();
            assertThat(ex.submit(() -> 42).get(30, SECONDS)).isEqualTo(42);
            assertThat(ex.submit(() -> { }, "done").get(30, SECONDS)).isEqualTo("done");
            assertThat(ex.submit(() -> { }).get(30, SECONDS)).isNull();

            IOException io = new IOException("disk on fire");
            Future<Object> failing = ex.submit(() -> {
                throw io;
            });
            assertThatThrownBy(() -> failing.get(30, SECONDS)).isInstanceOf(ExecutionException.class).hasCause(io);
            assertThat(failing.isDone()).isTrue();
            assertThat(failing.isCancelled()).isFalse();

            IllegalStateException ise = new IllegalStateException("bad state");
            Future<?> failingRunnable = ex.submit((Runnable) () -> {
                throw ise;
            });
            assertThatThrownBy(() -> failingRunnable.get(30, SECONDS)).isInstanceOf(ExecutionException.class).hasCause(ise);
            // The worker survives: later tasks still run.
            assertThat(ex.submit(() -> "after").get(30, SECONDS)).isEqualTo("after");
            ex.shutdown();
            assertThat(ex.awaitTermination(30, SECONDS)).isTrue();
        }
    }

    @Test
    void cancelOfATaskNotYetStartedRemovesItAndItNeverRuns() throws Exception {
        try (Workqueues e = engine("ev-cancel")) {
            Workqueue ordered = e.allocOrdered("ev-cancel");
            ExecutorService ex = ordered.asExecutor();
            AtomicBoolean cancelledRan = new AtomicBoolean();
            AtomicBoolean otherRan = new AtomicBoolean();
            CountDownLatch release = new CountDownLatch(1);
            Future<String> cancelled;
            Future<String> other;
            try {
                occupy(ordered, release);
                cancelled = ex.submit(() -> {
                    cancelledRan.set(true);
                    return "cancelled";
                });
                other = ex.submit(() -> {
                    otherRan.set(true);
                    return "other";
                });
                assertThat(ordered.stats().inFlight()).isEqualTo(3);
                assertThat(cancelled.cancel(false)).isTrue();
                assertThat(cancelled.isCancelled()).isTrue();
                assertThat(cancelled.isDone()).isTrue();
                assertThat(cancelled.cancel(false)).as("already cancelled").isFalse();
                assertThat(ordered.stats().inFlight()).as("its work item is off the queue").isEqualTo(2);
                assertThat(ordered.stats().inactive()).isEqualTo(1);
            } finally {
                release.countDown();
            }
            assertThat(other.get(30, SECONDS)).isEqualTo("other");
            barrier(ordered);
            assertThat(cancelledRan.get()).as("the cancelled task ran").isFalse();
            assertThat(otherRan.get()).isTrue();
            assertThatThrownBy(() -> cancelled.get(1, SECONDS)).isInstanceOf(CancellationException.class);
            // A finished task can't be cancelled.
            assertThat(other.cancel(false)).isFalse();
            ex.shutdown();
            assertThat(ex.awaitTermination(30, SECONDS)).as("a cancelled task does not hold up termination").isTrue();
            assertThat(ordered.stats().started()).as("blocker, other, barrier").isEqualTo(3);
        }
    }

    @Test
    void invokeAllAndInvokeAny() throws Exception {
        try (Workqueues e = engine("ev-invoke")) {
            for (Workqueue q : List.of(e.alloc("ev-invoke-b", 0), e.alloc("ev-invoke-u", 0, WqFlag.UNBOUND))) {
                ExecutorService ex = q.asExecutor();
                List<Callable<Integer>> tasks = new ArrayList<>();
                for (int i = 0; i < 20; i++) {
                    int v = i;
                    tasks.add(() -> v * v);
                }
                List<Future<Integer>> results = ex.invokeAll(tasks);
                assertThat(results).hasSize(20).allSatisfy(f -> assertThat(f.isDone()).isTrue());
                for (int i = 0; i < 20; i++) {
                    assertThat(results.get(i).get()).isEqualTo(i * i);
                }

                List<Callable<String>> any = new ArrayList<>();
                for (int i = 0; i < 5; i++) {
                    int v = i;
                    any.add(() -> {
                        throw new IOException("fail " + v);
                    });
                }
                any.add(() -> "ok");
                assertThat(ex.invokeAny(any, 30, SECONDS)).isEqualTo("ok");

                List<Callable<String>> allFail = List.of(() -> {
                    throw new IOException("a");
                }, () -> {
                    throw new IOException("b");
                });
                assertThatThrownBy(() -> ex.invokeAny(allFail)).isInstanceOf(ExecutionException.class)
                        .hasCauseInstanceOf(IOException.class);
                ex.shutdown();
                assertThat(ex.awaitTermination(30, SECONDS)).isTrue();
            }
        }
    }

    @Test
    void shutdownRejectsNewTasksAndWaitsForTheViewsOwnTasksOnly() throws Exception {
        try (Workqueues e = engine("ev-shutdown")) {
            Workqueue wq = e.alloc("ev-shutdown", 0);
            ExecutorService ex = wq.asExecutor();
            CountDownLatch releaseDirect = new CountDownLatch(1);
            CountDownLatch releaseTask = new CountDownLatch(1);
            CountDownLatch directStarted = new CountDownLatch(1);
            CountDownLatch taskStarted = new CountDownLatch(1);
            AtomicBoolean taskFinished = new AtomicBoolean();
            Work direct = new Work("direct", () -> {
                directStarted.countDown();
                blockOn(releaseDirect);
            });
            try {
                assertThat(wq.queue(direct)).isTrue();
                awaitLatch(directStarted);
                Future<?> task = ex.submit(() -> {
                    taskStarted.countDown();
                    blockOn(releaseTask);
                    taskFinished.set(true);
                });
                awaitLatch(taskStarted);
                assertThat(ex.isShutdown()).isFalse();
                ex.shutdown();
                assertThat(ex.isShutdown()).isTrue();
                assertThat(ex.isTerminated()).as("its task still runs").isFalse();
                assertThatThrownBy(() -> ex.execute(() -> { })).isInstanceOf(RejectedExecutionException.class);
                assertThatThrownBy(() -> ex.submit(() -> 1)).isInstanceOf(RejectedExecutionException.class);
                assertThat(ex.awaitTermination(50, MILLISECONDS)).as("its own task still runs").isFalse();

                releaseTask.countDown();
                task.get(30, SECONDS);
                assertThat(ex.awaitTermination(30, SECONDS))
                        .as("terminates when its own task is done, while another item of the queue still runs").isTrue();
                assertThat(ex.isTerminated()).isTrue();
                assertThat(taskFinished.get()).isTrue();
                assertThat(direct.busy()).as("the direct item is not waited for").isEqualTo(Work.BUSY_RUNNING);

                // The queue itself keeps working; so does a new view of it.
                CountDownLatch after = new CountDownLatch(1);
                assertThat(wq.queue(new Work("after", after::countDown))).isTrue();
                awaitLatch(after);
                assertThat(wq.asExecutor().submit(() -> "fresh view").get(30, SECONDS)).isEqualTo("fresh view");
            } finally {
                releaseTask.countDown();
                releaseDirect.countDown();
            }
            await().until(() -> direct.busy() == 0);
        }
    }

    @Test
    void shuttingDownAViewOfASystemQueueLeavesTheQueueWorking() throws Exception {
        try (Workqueues e = engine("ev-system")) {
            Workqueue sys = e.systemWq();
            ExecutorService ex = sys.asExecutor();
            assertThat(ex.submit(() -> "view").get(30, SECONDS)).isEqualTo("view");
            ex.shutdown();
            assertThat(ex.awaitTermination(30, SECONDS)).isTrue();
            assertThat(ex.isTerminated()).isTrue();
            assertThatThrownBy(() -> ex.execute(() -> { })).isInstanceOf(RejectedExecutionException.class);

            CountDownLatch ran = new CountDownLatch(1);
            assertThat(sys.queue(new Work("schedule_work", ran::countDown))).isTrue();
            awaitLatch(ran);
            DelayedWork dw = new DelayedWork("schedule_delayed_work", () -> { });
            assertThat(sys.queueDelayed(dw, Duration.ofMillis(1))).isTrue();
            await().until(() -> dw.busy() == 0);
            assertThat(e.workqueue("system_wq")).containsSame(sys);
            assertThat(sys.asExecutor().submit(() -> 7).get(30, SECONDS)).isEqualTo(7);

            // Shutting down an idle view: terminated at once.
            ExecutorService idle = e.systemUnboundWq().asExecutor();
            assertThat(idle.isTerminated()).isFalse();
            idle.shutdown();
            assertThat(idle.isTerminated()).isTrue();
            assertThat(idle.awaitTermination(0, SECONDS)).isTrue();
        }
    }

    @Test
    void shutdownNowReturnsTheTasksThatNeverStartedAndInterruptsTheRunningOne() throws Exception {
        try (Workqueues e = engine("ev-shutdown-now")) {
            Workqueue ordered = e.allocOrdered("ev-shutdown-now");
            ExecutorService ex = ordered.asExecutor();
            CountDownLatch runningStarted = new CountDownLatch(1);
            CountDownLatch release = new CountDownLatch(1);
            AtomicBoolean interrupted = new AtomicBoolean();
            Set<Object> ran = ConcurrentHashMap.newKeySet();
            // The running task notes the interrupt but keeps running until released, so that the
            // waiting tasks stay waiting whatever order shutdownNow visits them in (see the next test).
            ex.execute(() -> {
                runningStarted.countDown();
                for (;;) {
                    try {
                        if (Workqueues.blocking(() -> release.await(30, SECONDS))) {
                            return;
                        }
                    } catch (InterruptedException ie) {
                        interrupted.set(true);
                    }
                }
            });
            awaitLatch(runningStarted);
            List<Runnable> executed = new ArrayList<>();
            for (int i = 0; i < 5; i++) {
                Runnable r = new Runnable() {
                    @Override
                    public void run() {
                        ran.add(this);
                    }
                };
                executed.add(r);
                ex.execute(r);
            }
            List<Future<String>> submitted = new ArrayList<>();
            for (int i = 0; i < 3; i++) {
                String v = "submitted-" + i;
                submitted.add(ex.submit(() -> {
                    ran.add(v);
                    return v;
                }));
            }
            assertThat(ordered.stats().inFlight()).isEqualTo(9);

            List<Runnable> notStarted = ex.shutdownNow();
            assertThat(notStarted).hasSize(8);
            assertThat(notStarted).containsAll(executed);
            assertThat(notStarted).containsAll(submitted.stream().map(f -> (Runnable) f).toList());
            assertThat(ex.isShutdown()).isTrue();
            assertThatThrownBy(() -> ex.execute(() -> { })).isInstanceOf(RejectedExecutionException.class);
            await().until(interrupted::get); // the running task was interrupted
            assertThat(ex.isTerminated()).as("its running task is not done").isFalse();
            assertThat(ex.awaitTermination(20, MILLISECONDS)).isFalse();
            assertThat(ordered.stats().inFlight()).as("only the running task is left on the queue").isEqualTo(1);
            release.countDown();
            assertThat(ex.awaitTermination(30, SECONDS)).isTrue();
            assertThat(ex.isTerminated()).isTrue();

            // The interrupt does not leak into the queue's next item, and nothing returned ever runs.
            AtomicReference<Boolean> nextInterrupted = new AtomicReference<>();
            awaitLatch(queueNoting(ordered, nextInterrupted));
            assertThat(nextInterrupted.get()).isFalse();
            barrier(ordered);
            assertThat(ran).as("tasks returned by shutdownNow that ran").isEmpty();
            assertThat(ordered.stats().started()).as("the running task, next, barrier").isEqualTo(3);
            assertThat(ex.shutdownNow()).isEmpty();
        }
    }

    /**
     * {@code shutdownNow} "halts the processing of waiting tasks": a task waiting when it is called
     * never starts, even when the running task it interrupts ends at once and lets the queue move
     * on while shutdownNow is still going through its tasks.
     */
    @Test
    void shutdownNowHaltsEveryWaitingTaskEvenIfTheInterruptedOneEndsAtOnce() throws Exception {
        try (Workqueues e = engine("ev-shutdown-now-halt")) {
            Workqueue ordered = e.allocOrdered("ev-shutdown-now-halt");
            for (int round = 0; round < 5; round++) {
                ExecutorService ex = ordered.asExecutor();
                CountDownLatch runningStarted = new CountDownLatch(1);
                CountDownLatch never = new CountDownLatch(1);
                ex.execute(() -> {
                    runningStarted.countDown();
                    try {
                        Workqueues.blocking(() -> never.await(30, SECONDS));
                    } catch (InterruptedException ie) {
                        // interrupted by shutdownNow: end at once
                    }
                });
                awaitLatch(runningStarted);
                Set<Runnable> waiting = ConcurrentHashMap.newKeySet();
                Set<Runnable> ran = ConcurrentHashMap.newKeySet();
                for (int i = 0; i < 2_000; i++) {
                    Runnable r = new Runnable() {
                        @Override
                        public void run() {
                            ran.add(this);
                        }
                    };
                    waiting.add(r);
                    ex.execute(r);
                }
                List<Runnable> returned = ex.shutdownNow();
                assertThat(ex.awaitTermination(30, SECONDS)).isTrue();
                barrier(ordered);
                assertThat(ran).as("round %d: waiting tasks that started after shutdownNow was called", round).isEmpty();
                assertThat(returned).as("round %d: returned by shutdownNow", round).hasSize(waiting.size());
            }
        }
    }

    /**
     * shutdownNow interrupts a running task through its pool, under the pool's lock, while the task
     * is its worker's current item; that includes the instant after the task's function returned,
     * before the worker is back in pool code. A test hook holds the worker in that instant (its
     * first clear of the interrupt status done) while shutdownNow runs: the interrupt lands there,
     * and the worker must clear it again before it runs the queue's next item.
     */
    @Test
    void anInterruptThatLandsAsATaskEndsNeverReachesTheNextItem() throws Exception {
        assertThat(TestHooks.ENABLED).as("run with -Dcmwq.test-hooks=true (the module's Surefire does)").isTrue();
        try (Workqueues e = engine("ev-interrupt-window")) {
            Workqueue ordered = e.allocOrdered("ev-interrupt-window");
            ExecutorService ex = ordered.asExecutor();
            CountDownLatch inWindow = new CountDownLatch(1);
            CountDownLatch shutdownNowDone = new CountDownLatch(1);
            AtomicReference<Boolean> interruptedInWindow = new AtomicReference<>();
            AtomicReference<Boolean> nextInterrupted = new AtomicReference<>();
            String taskName = "executor-task@ev-interrupt-window";
            TestHooks.afterExecute = w -> {
                if (!w.name().equals(taskName) || inWindow.getCount() == 0) {
                    return;
                }
                inWindow.countDown();
                // Not a latch's await: the interrupt this waits for would end it early.
                long deadline = System.nanoTime() + SECONDS.toNanos(30);
                while (shutdownNowDone.getCount() > 0 && System.nanoTime() - deadline < 0) {
                    LockSupport.parkNanos(100_000);
                }
                interruptedInWindow.set(Thread.currentThread().isInterrupted());
            };
            try {
                ex.execute(() -> { });
                CountDownLatch next = queueNoting(ordered, nextInterrupted);
                awaitLatch(inWindow);
                assertThat(ex.shutdownNow()).isEmpty();
                shutdownNowDone.countDown();
                awaitLatch(next);
            } finally {
                TestHooks.afterExecute = null;
            }
            assertThat(interruptedInWindow.get()).as("shutdownNow interrupted the task's worker in the window").isTrue();
            assertThat(nextInterrupted.get()).as("the next item started interrupted").isFalse();
            assertThat(ex.awaitTermination(30, SECONDS)).isTrue();
        }
    }

    /**
     * shutdownNow finds the view's tasks on the queue's own lists: it must take only its own,
     * never another view's tasks or items queued directly on the same queue.
     */
    @Test
    void shutdownNowTakesOnlyItsOwnTasksFromASharedQueue() throws Exception {
        try (Workqueues e = engine("ev-shutdown-now-own")) {
            Workqueue ordered = e.allocOrdered("ev-shutdown-now-own");
            ExecutorService mine = ordered.asExecutor();
            ExecutorService other = ordered.asExecutor();
            CountDownLatch release = new CountDownLatch(1);
            occupy(ordered, release);
            AtomicInteger mineRan = new AtomicInteger();
            AtomicInteger otherRan = new AtomicInteger();
            AtomicInteger directRan = new AtomicInteger();
            for (int i = 0; i < 10; i++) {
                mine.execute(mineRan::incrementAndGet);
                other.execute(otherRan::incrementAndGet);
                assertThat(ordered.queue(new Work("direct-" + i, directRan::incrementAndGet))).isTrue();
            }
            List<Runnable> returned = mine.shutdownNow();
            assertThat(returned).as("the view's own waiting tasks").hasSize(10);
            release.countDown();
            assertThat(mine.awaitTermination(30, SECONDS)).isTrue();
            barrier(ordered);
            assertThat(mineRan.get()).as("tasks of the view that was shut down").isZero();
            assertThat(otherRan.get()).as("tasks of the other view").isEqualTo(10);
            assertThat(directRan.get()).as("items queued directly").isEqualTo(10);
            assertThat(other.isShutdown()).isFalse();
        }
    }

    @Test
    void aQueueThatRefusesWorkMakesTheViewRejectTasks() throws Exception {
        Workqueues e = engine("ev-refused");
        Workqueue destroyed = e.alloc("ev-destroyed", 0);
        ExecutorService onDestroyed = destroyed.asExecutor();
        destroyed.destroy();
        assertThatThrownBy(() -> onDestroyed.execute(() -> { })).isInstanceOf(RejectedExecutionException.class)
                .hasMessageContaining("destroyed");
        assertThatThrownBy(() -> onDestroyed.submit(() -> 1)).isInstanceOf(RejectedExecutionException.class);
        onDestroyed.shutdown();
        assertThat(onDestroyed.awaitTermination(0, SECONDS)).as("rejected tasks are not waited for").isTrue();

        ExecutorService onSystem = e.systemWq().asExecutor();
        assertThat(e.shutdown(Duration.ofSeconds(20))).isTrue();
        assertThatThrownBy(() -> onSystem.execute(() -> { })).isInstanceOf(RejectedExecutionException.class)
                .hasMessageContaining("shut down");
        assertThat(onSystem.isShutdown()).as("the view itself was not shut down").isFalse();
        onSystem.shutdown();
        assertThat(onSystem.isTerminated()).isTrue();
    }

    /**
     * The view counts a task on the CPU its producer runs on (one count per CPU, so that producers
     * on different CPUs do not share one word). Termination still waits for every task, whichever
     * CPU counted it, and the waiter wakes when the last one ends.
     */
    @Test
    void tasksCountedOnDifferentCpusAllHoldOffTermination() throws Exception {
        ThreadLocal<Integer> cpu = ThreadLocal.withInitial(() -> 0); // each submitter says which CPU it is on
        try (Workqueues e = Workqueues.builder().cpus(4).name("ev-cpus").cpuLocator(() -> cpu.get()).build()) {
            ExecutorService ex = e.alloc("ev-cpus", 0).asExecutor();
            List<CountDownLatch> release = new ArrayList<>();
            List<Future<?>> tasks = new ArrayList<>();
            CountDownLatch started = new CountDownLatch(4);
            try {
                for (int c = 0; c < 4; c++) {
                    CountDownLatch mine = new CountDownLatch(1);
                    release.add(mine);
                    tasks.add(onCpu(cpu, c, () -> ex.submit(() -> {
                        started.countDown();
                        blockOn(mine);
                    })));
                }
                awaitLatch(started);
                ex.shutdown();
                assertThat(ex.toString()).contains("4 tasks left");
                assertThatThrownBy(() -> onCpu(cpu, 3, () -> ex.submit(() -> 1)))
                        .hasCauseInstanceOf(RejectedExecutionException.class);
                AtomicReference<Boolean> awaited = new AtomicReference<>();
                Thread waiter = new Thread(() -> {
                    try {
                        awaited.set(ex.awaitTermination(30, SECONDS));
                    } catch (InterruptedException ie) {
                        awaited.set(false);
                    }
                }, "test-termination-waiter");
                waiter.start();
                for (int c = 0; c < 3; c++) {
                    release.get(c).countDown();
                    tasks.get(c).get(30, SECONDS); // (its future completes just before the view counts it out)
                    String left = "(shut down, " + (3 - c) + " tasks left)";
                    await().untilAsserted(() -> assertThat(ex.toString()).contains(left));
                    assertThat(ex.isTerminated()).as("the task counted on CPU 3 still runs").isFalse();
                }
                assertThat(waiter.isAlive()).as("still waiting for the task counted on CPU 3").isTrue();
                release.get(3).countDown();
                tasks.get(3).get(30, SECONDS);
                waiter.join(30_000);
                assertThat(awaited.get()).as("awaitTermination woke when the last task ended").isTrue();
                assertThat(ex.isTerminated()).isTrue();
            } finally {
                release.forEach(CountDownLatch::countDown);
            }
        }
    }

    /** Runs {@code action} on a fresh thread that claims to be on {@code c}; its failure is the cause. */
    private static <T> T onCpu(ThreadLocal<Integer> cpu, int c, Callable<T> action) throws Exception {
        AtomicReference<T> result = new AtomicReference<>();
        AtomicReference<Throwable> failure = new AtomicReference<>();
        Thread t = new Thread(() -> {
            cpu.set(c);
            try {
                result.set(action.call());
            } catch (Throwable x) {
                failure.set(x);
            }
        }, "test-on-cpu-" + c);
        t.start();
        t.join(30_000);
        if (failure.get() != null) {
            throw new ExecutionException(failure.get());
        }
        return result.get();
    }

    /**
     * Tasks handed to {@code execute} while another thread calls {@code shutdownNow}: each accepted
     * task (execute did not throw) either runs or is returned by shutdownNow, and the view terminates.
     */
    @Test
    void executeRacingShutdownNowNeverLosesATask() throws Exception {
        try (Workqueues e = engine("ev-race")) {
            Workqueue wq = e.alloc("ev-race", 0, WqFlag.UNBOUND);
            long end = System.nanoTime() + SECONDS.toNanos(5);
            int rounds = 0;
            while (System.nanoTime() - end < 0) {
                rounds++;
                ExecutorService ex = wq.asExecutor();
                Set<Runnable> accepted = ConcurrentHashMap.newKeySet();
                Set<Runnable> ran = ConcurrentHashMap.newKeySet();
                CountDownLatch go = new CountDownLatch(1);
                List<Thread> submitters = new ArrayList<>();
                for (int t = 0; t < 2; t++) {
                    Thread th = new Thread(() -> {
                        awaitLatch(go);
                        for (int i = 0; i < 10_000; i++) {
                            Runnable r = new Runnable() {
                                @Override
                                public void run() {
                                    ran.add(this);
                                }
                            };
                            try {
                                accepted.add(r);
                                ex.execute(r);
                            } catch (RejectedExecutionException rejected) {
                                accepted.remove(r);
                                return;
                            }
                        }
                    }, "test-submitter-" + t);
                    th.setDaemon(true);
                    submitters.add(th);
                    th.start();
                }
                go.countDown();
                Set<Runnable> returned = Set.copyOf(ex.shutdownNow());
                for (Thread th : submitters) {
                    th.join(30_000);
                    assertThat(th.isAlive()).isFalse();
                }
                boolean terminated = ex.awaitTermination(10, SECONDS);
                List<Runnable> lost = new ArrayList<>();
                for (Runnable r : accepted) {
                    if (!ran.contains(r) && !returned.contains(r)) {
                        lost.add(r);
                    }
                }
                assertThat(lost).as("round %d: accepted tasks neither run nor returned by shutdownNow (%s)", rounds, ex).isEmpty();
                assertThat(terminated).as("round %d: %s terminated", rounds, ex).isTrue();
                assertThat(returned).allSatisfy(r -> assertThat(ran).doesNotContain(r));
            }
        }
    }
}
