package dev.cmwq.workqueue.bench;

import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.IntPredicate;

/**
 * The workload table and work types of {@code perf-wq.c}, the synthetic load generator of the 2010
 * cmwq posting (seed cmwq-overview-2010.txt, "Numbers"), copied from the sample app's
 * {@code dev.cmwq.sample.PerfWq} (this module can't depend on the sample app) and made
 * backend-neutral: a work re-queues itself through a {@link PerfWqBackend}.
 */
public final class PerfWqWorkloads {

    public static final int WORKLOADS = 6;

    private PerfWqWorkloads() {
    }

    /** {@code struct workload_spec}; burn/S per the "Numbers" table, burn/L is 50 us for all. */
    public record WorkloadSpec(String name, int burnUsecsL, int burnUsecsS, int meanSleepMsecs,
                               int meanReschedMsecs, int factor) {
        public int burnUsecs(Burn burn) {
            return burn == Burn.L ? burnUsecsL : burnUsecsS;
        }

        /** {@code param_set_trigger}: {@code dur * 1000 / cycle_msec / factor}. */
        public int cycles(int dur) {
            int c = dur * 1000 / (meanSleepMsecs + meanReschedMsecs);
            return factor != 0 ? c / factor : c;
        }
    }

    /** {@code struct test_spec}. */
    public record TestSpec(WorkloadSpec workload, int wqId, int nrWorks) {
    }

    /** The two burn durations of the text: L (long, 50 us) and S (short, 1/2/4 us). */
    public enum Burn {
        L, S;

        public static Burn parse(String s) {
            return valueOf(s.trim().toUpperCase(Locale.ROOT));
        }
    }

    public static final WorkloadSpec SHORT = new WorkloadSpec("sht", 50, 1, 1, 10, 3);
    public static final WorkloadSpec MEDIUM = new WorkloadSpec("med", 50, 2, 10, 50, 2);
    public static final WorkloadSpec LONG = new WorkloadSpec("lng", 50, 4, 100, 250, 1);

    /** {@code test_specs[]}, entry for entry: this is workload 0. */
    public static final List<TestSpec> TEST_SPECS = List.of(
            new TestSpec(SHORT, 0, 4), new TestSpec(SHORT, 1, 4), new TestSpec(SHORT, 2, 4), new TestSpec(SHORT, 3, 4),

            new TestSpec(SHORT, 4, 2), new TestSpec(MEDIUM, 4, 2), new TestSpec(SHORT, 5, 2), new TestSpec(MEDIUM, 5, 2),

            new TestSpec(MEDIUM, 6, 2), new TestSpec(LONG, 6, 1), new TestSpec(MEDIUM, 7, 2), new TestSpec(LONG, 7, 1),
            new TestSpec(MEDIUM, 8, 2), new TestSpec(LONG, 8, 1), new TestSpec(MEDIUM, 9, 2), new TestSpec(LONG, 9, 1),

            new TestSpec(LONG, 10, 1), new TestSpec(LONG, 11, 1), new TestSpec(LONG, 12, 1), new TestSpec(LONG, 13, 1),
            new TestSpec(LONG, 14, 1), new TestSpec(LONG, 15, 1), new TestSpec(LONG, 16, 1), new TestSpec(LONG, 17, 1),

            new TestSpec(SHORT, 18, 4), new TestSpec(SHORT, 19, 4), new TestSpec(SHORT, 20, 4), new TestSpec(SHORT, 21, 4),
            new TestSpec(SHORT, 22, 4), new TestSpec(SHORT, 23, 4), new TestSpec(SHORT, 24, 4), new TestSpec(SHORT, 25, 4));

    /**
     * The text's workload {@code n} as a sub-array of {@link #TEST_SPECS} (same selection as the
     * sample app): 0 all (12 short-wqs); 1 drops short-wqs 22-25; 2 drops 18-25; 3 keeps short-wqs
     * 0-1; 4 as 3 and wqs 4-5 lose their short works; 5 as 4 without short-wqs 0-1.
     */
    public static List<TestSpec> workload(int n) {
        if (n < 0 || n >= WORKLOADS) {
            throw new IllegalArgumentException("workload " + n + " out of range; allowed 0.." + (WORKLOADS - 1));
        }
        IntPredicate shortWqs = switch (n) {
            case 0 -> id -> true;
            case 1 -> id -> id < 22;
            case 2 -> id -> id < 18;
            case 3, 4 -> id -> id < 2;
            default -> id -> false;
        };
        List<TestSpec> out = new ArrayList<>();
        for (TestSpec t : TEST_SPECS) {
            boolean shortWq = t.wqId() <= 3 || t.wqId() >= 18;
            if (shortWq && !shortWqs.test(t.wqId())) {
                continue;
            }
            if (n >= 4 && t.workload() == SHORT && (t.wqId() == 4 || t.wqId() == 5)) {
                continue;
            }
            out.add(t);
        }
        return out;
    }

    public static List<Integer> queueIds(int workload) {
        return workload(workload).stream().map(TestSpec::wqId).distinct().toList();
    }

    /** {@code udelay()}: spins on the clock for {@code nanos}, never sleeps. */
    static void burn(long nanos) {
        long deadline = System.nanoTime() + nanos;
        while (System.nanoTime() - deadline < 0) {
            Thread.onSpinWait();
        }
    }

    /** One running load: all test runs of a workload on one backend. */
    public static final class Load {
        final PerfWqBackend backend;
        final List<TestRun> runs = new ArrayList<>();
        final AtomicLong items = new AtomicLong();
        volatile boolean stopped;

        /** @param dur the C module's seconds (sets each work's cycles); 0: works run until {@link #stop()} */
        public Load(PerfWqBackend backend, int workload, int dur, Burn burn) {
            this.backend = backend;
            for (TestSpec spec : workload(workload)) {
                for (int j = 0; j < spec.nrWorks(); j++) {
                    runs.add(new TestRun(this, spec.wqId(), spec.workload(), burn, dur));
                }
            }
        }

        /** {@code param_set_trigger()}: queues every test run at once. */
        public void start() {
            for (TestRun t : runs) {
                backend.start(t.queueId, t);
            }
        }

        /** Works stop re-queueing themselves. */
        public void stop() {
            stopped = true;
        }

        /** Work functions completed so far. */
        public long items() {
            return items.get();
        }

        public int testRuns() {
            return runs.size();
        }
    }

    /** {@code struct test_run} with {@code perf_wq_func()} as its {@link #run()}. */
    static final class TestRun implements Runnable {
        final Load load;
        final int queueId;
        final WorkloadSpec spec;
        final long burnNanos;
        int cyclesLeft; // one running instance at a time; published by the backend's hand-off

        TestRun(Load load, int queueId, WorkloadSpec spec, Burn burn, int dur) {
            this.load = load;
            this.queueId = queueId;
            this.spec = spec;
            this.burnNanos = spec.burnUsecs(burn) * 1000L;
            this.cyclesLeft = dur > 0 ? spec.cycles(dur) : Integer.MAX_VALUE;
        }

        /**
         * Splits the burn randomly in two, burns the first part, sleeps 0 - 2 x mean_sleep msecs,
         * burns the rest and re-queues itself in 0 - 2 x mean_resched msecs until its cycles are
         * used up (as the sample app's port).
         */
        @Override
        public void run() {
            ThreadLocalRandom rnd = ThreadLocalRandom.current();
            int sleep = spec.meanSleepMsecs() * rnd.nextInt(200) / 100;
            int pct = rnd.nextInt(100);
            long first = burnNanos * pct / 100;
            burn(first);
            try {
                load.backend.sleep(sleep);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                return;
            }
            burn(burnNanos - first);
            load.items.incrementAndGet();
            int left = --cyclesLeft;
            if (left > 0 && !load.stopped) {
                int delay = spec.meanReschedMsecs() * rnd.nextInt(200) / 100;
                try {
                    load.backend.startDelayed(queueId, this, delay);
                } catch (RuntimeException e) {
                    if (!load.stopped) {
                        throw e;
                    }
                }
            }
        }
    }
}
