package dev.cmwq.sample;

import dev.cmwq.workqueue.DelayedWork;
import dev.cmwq.workqueue.Workqueue;
import dev.cmwq.workqueue.Workqueues;
import dev.cmwq.workqueue.WqFlag;
import jakarta.annotation.PreDestroy;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.IntPredicate;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import org.springframework.context.event.ContextClosedEvent;
import org.springframework.context.event.EventListener;
import org.springframework.stereotype.Service;

/**
 * A port of {@code perf-wq.c}, the synthetic workqueue load generator of the 2010 cmwq posting
 * (seed: cmwq-overview-2010.txt, "Numbers"). Each work burns a little CPU, sleeps, burns again
 * and re-queues itself as delayed work on its queue until its cycles are used up; the queues
 * {@code pwq-NN} are created like 2010's {@code create_workqueue()} (bound, per-CPU,
 * {@code WQ_MEM_RECLAIM}, max_active 1).
 *
 * <p>The C module runs one fixed {@code test_specs[]} array (workload 0); the text's workloads
 * 1..5 drop entries from it, which {@link #workload(int)} does, so each queue keeps its C
 * {@code wq_id} and name in every workload.
 */
@Service
public class PerfWq {

    private static final Logger log = LoggerFactory.getLogger(PerfWq.class);

    /** {@code MAX_TEST_SECS}. */
    public static final int MAX_TEST_SECS = 300;
    public static final int WORKLOADS = 6;

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
    public enum Burn { L, S }

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
     * The text's workload {@code n} as a sub-array of {@link #TEST_SPECS}:
     * <ul>
     * <li>0: all (12 short-wqs: 0-3, 18-25)</li>
     * <li>1: 8 short-wqs (drops 22-25)</li>
     * <li>2: 4 short-wqs (drops 18-25)</li>
     * <li>3: 2 short-wqs (keeps 0-1)</li>
     * <li>4: as 3, and wqs 4-5 lose their short works (2 wqs with 2 medium)</li>
     * <li>5: as 4 without the short-wqs 0-1</li>
     * </ul>
     */
    public static List<TestSpec> workload(int n) {
        checkWorkload(n);
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

    /** {@code udelay()}: spins on the clock for {@code nanos}, never sleeps. */
    static void burn(long nanos) {
        long deadline = System.nanoTime() + nanos;
        while (System.nanoTime() - deadline < 0) {
            Thread.onSpinWait();
        }
    }

    public static String queueName(int wqId) {
        return String.format("pwq-%02d", wqId);
    }

    static void checkWorkload(int n) {
        if (n < 0 || n >= WORKLOADS) {
            throw new IllegalArgumentException("workload " + n + " out of range; allowed 0.." + (WORKLOADS - 1));
        }
    }

    /** Thrown when a run is already going: the C {@code mutex_trylock()} failing with -EBUSY. */
    public static class BusyException extends RuntimeException {
        BusyException(String message) {
            super(message);
        }
    }

    // ---- runtime ------------------------------------------------------------------------------

    private final Workqueues engine;
    private final Map<Integer, Workqueue> wqs = new TreeMap<>();
    /** The C {@code static DEFINE_MUTEX(mutex)} of {@code param_set_trigger}, held until a run ends. */
    private final AtomicBoolean busy = new AtomicBoolean();
    private final AtomicLong ids = new AtomicLong();
    private volatile Run last;

    public PerfWq(Workqueues engine) {
        this.engine = engine;
    }

    /** {@code struct test_run}. */
    public final class TestRun {
        final String name;
        final Workqueue wq;
        final WorkloadSpec spec;
        final long burnNanos;
        final int cycles;
        volatile int cyclesLeft;
        volatile long start;
        volatile long end;
        volatile boolean finished;
        final DelayedWork dwork;
        private final Run owner;

        TestRun(Run owner, String name, Workqueue wq, WorkloadSpec spec, Burn burn, int dur) {
            this.owner = owner;
            this.name = name;
            this.wq = wq;
            this.spec = spec;
            this.burnNanos = spec.burnUsecs(burn) * 1000L;
            this.cycles = spec.cycles(dur);
            this.cyclesLeft = cycles;
            this.dwork = DelayedWork.create(name, this::func);
        }

        /**
         * {@code perf_wq_func()}. The seed's copy of the C source lost the three lines between
         * {@code sleep -= tmp;} and {@code if (--run->cycles_left)}; the text describes them: "It
         * randomly splits burn_usecs into two, burns the first part, sleeps for 0 - 2 *
         * mean_sleep_msecs, burns what's left of burn_usecs". So: the sleep is drawn as the C code
         * draws it (integer msecs), the split uses the C code's {@code random32() % 100} percent.
         */
        private void func(DelayedWork self) {
            ThreadLocalRandom rnd = ThreadLocalRandom.current();
            int sleep = spec.meanSleepMsecs() * rnd.nextInt(200) / 100;
            int pct = rnd.nextInt(100);
            long first = burnNanos * pct / 100;
            burn(first);
            try {
                Thread.sleep(sleep);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                finish();
                return;
            }
            burn(burnNanos - first);
            int left = cyclesLeft - 1;
            cyclesLeft = left;
            if (left > 0 && !owner.stopped) {
                int delay = spec.meanReschedMsecs() * rnd.nextInt(200) / 100;
                wq.queueDelayed(self, Duration.ofMillis(delay));
            } else {
                finish();
            }
        }

        private void finish() {
            end = System.nanoTime();
            finished = true;
            owner.ended(this);
        }

        public String name() {
            return name;
        }

        public int cyclesDone() {
            return cycles - cyclesLeft;
        }

        /** {@code jiffies_to_msecs(run->end - run->start)}, or -1 while running. */
        public long ranMsecs() {
            return finished ? (end - start) / 1_000_000 : -1;
        }

        Map<String, Object> describe() {
            Map<String, Object> m = new LinkedHashMap<>();
            m.put("name", name);
            m.put("queue", wq.name());
            m.put("type", spec.name());
            m.put("cycles", cycles);
            m.put("cyclesDone", cyclesDone());
            m.put("ranMsecs", finished ? ranMsecs() : null);
            return m;
        }
    }

    /** One trigger: all test runs of a workload. */
    public final class Run {
        final long id;
        final int workload;
        final int seconds;
        final Burn burn;
        final Instant started = Instant.now();
        final long startNanos = System.nanoTime();
        final List<TestRun> runs = new ArrayList<>();
        final AtomicInteger running = new AtomicInteger();
        volatile long endNanos;
        volatile boolean done;
        volatile boolean stopped;

        Run(long id, int workload, int seconds, Burn burn) {
            this.id = id;
            this.workload = workload;
            this.seconds = seconds;
            this.burn = burn;
        }

        void ended(TestRun r) {
            if (running.decrementAndGet() == 0) {
                endNanos = System.nanoTime();
                for (TestRun t : runs) {
                    log.info("perf-wq: test {} ran for {} msecs", t.name, t.ranMsecs());
                }
                log.info("perf-wq: workload {} ({} s, burn/{}) done in {} msecs", workload, seconds, burn,
                        (endNanos - startNanos) / 1_000_000);
                done = true;
                busy.set(false);
            }
        }

        public boolean done() {
            return done;
        }

        public List<TestRun> runs() {
            return runs;
        }
    }

    /**
     * {@code param_set_trigger()}: validates, takes the mutex (or fails busy), sets every test
     * run's cycles and queues it at once. Returns without waiting; the mutex is let go when the
     * last test run ends.
     */
    public Run start(int workload, int dur, Burn burn) {
        checkWorkload(workload);
        if (dur <= 0 || dur > MAX_TEST_SECS) {
            throw new IllegalArgumentException("seconds " + dur + " out of range; allowed 1.." + MAX_TEST_SECS);
        }
        if (!busy.compareAndSet(false, true)) {
            Run r = last;
            throw new BusyException("a perf-wq run is in progress (id " + (r != null ? r.id : "?") + ", workload "
                    + (r != null ? r.workload : "?") + "); wait for GET /api/load to show state done");
        }
        try {
            Run run = new Run(ids.incrementAndGet(), workload, dur, burn);
            List<TestSpec> specs = workload(workload);
            for (int i = 0; i < specs.size(); i++) {
                TestSpec spec = specs.get(i);
                Workqueue wq = queue(spec.wqId());
                for (int j = 0; j < spec.nrWorks(); j++) {
                    // the C name: "%s-%d:%d@%d", workload name, test_specs index, work, wq_id
                    String name = spec.workload().name() + "-" + TEST_SPECS.indexOf(spec) + ":" + j + "@" + spec.wqId();
                    run.runs.add(new TestRun(run, name, wq, spec.workload(), burn, dur));
                }
            }
            run.running.set(run.runs.size());
            last = run;
            log.info("perf-wq: duration {}, workload {}, burn/{}, {} test runs", dur, workload, burn, run.runs.size());
            for (TestRun t : run.runs) {
                t.start = System.nanoTime();
                t.wq.queueDelayed(t.dwork, Duration.ZERO);
            }
            return run;
        } catch (RuntimeException e) {
            busy.set(false);
            throw e;
        }
    }

    /** {@code create_workqueue()} of 2010: {@code alloc_workqueue(name, WQ_MEM_RECLAIM, 1)}, made once. */
    synchronized Workqueue queue(int wqId) {
        return wqs.computeIfAbsent(wqId, id -> {
            String name = queueName(id);
            return engine.workqueue(name).orElseGet(() -> engine.alloc(name, 1, WqFlag.MEM_RECLAIM));
        });
    }

    public Run last() {
        return last;
    }

    public static Burn parseBurn(String s) {
        try {
            return Burn.valueOf(s.trim().toUpperCase(Locale.ROOT));
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException("burn '" + s + "' unknown; allowed L (50 us) or S (1/2/4 us)");
        }
    }

    /** The plan of a workload: queues and works per type (C names sht/med/lng). */
    public static Map<String, Object> plan(int workload, int dur, Burn burn) {
        List<TestSpec> specs = workload(workload);
        Map<String, Object> out = new LinkedHashMap<>();
        List<String> queues = specs.stream().map(t -> queueName(t.wqId())).distinct().toList();
        out.put("queues", queues);
        Map<String, Integer> works = new LinkedHashMap<>();
        Map<String, Integer> cycles = new LinkedHashMap<>();
        Map<String, Integer> burnUs = new LinkedHashMap<>();
        for (WorkloadSpec w : List.of(SHORT, MEDIUM, LONG)) {
            int n = specs.stream().filter(t -> t.workload() == w).mapToInt(TestSpec::nrWorks).sum();
            if (n > 0) {
                works.put(w.name(), n);
                cycles.put(w.name(), w.cycles(dur));
                burnUs.put(w.name(), w.burnUsecs(burn));
            }
        }
        out.put("works", works);
        out.put("cyclesPerWork", cycles);
        out.put("burnUsecs", burnUs);
        out.put("testRuns", works.values().stream().mapToInt(Integer::intValue).sum());
        return out;
    }

    public Map<String, Object> describe(Run run) {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("id", run.id);
        m.put("workload", run.workload);
        m.put("seconds", run.seconds);
        m.put("burn", run.burn.name());
        m.put("state", run.done ? "done" : "running");
        m.put("started", run.started.toString());
        long now = run.done ? run.endNanos : System.nanoTime();
        m.put("elapsedMsecs", (now - run.startNanos) / 1_000_000);
        List<Map<String, Object>> runs = new ArrayList<>();
        long cycles = 0;
        long done = 0;
        int finished = 0;
        List<String> report = new ArrayList<>();
        for (TestRun t : run.runs) {
            runs.add(t.describe());
            cycles += t.cycles;
            done += t.cyclesDone();
            if (t.finished) {
                finished++;
                report.add("test " + t.name + " ran for " + t.ranMsecs() + " msecs");
            }
        }
        Map<String, Object> totals = new LinkedHashMap<>();
        totals.put("testRuns", run.runs.size());
        totals.put("finished", finished);
        totals.put("cycles", cycles);
        totals.put("cyclesDone", done);
        m.put("totals", totals);
        m.put("testRuns", runs);
        m.put("report", report);
        return m;
    }

    /** Stops re-queueing and cancels what is pending, so the engine can shut down. */
    /**
     * Stops a running load when the context closes, before the engine drains: its works stop
     * re-queueing themselves and their armed timers are cancelled, so the drain doesn't fire them.
     */
    @EventListener(ContextClosedEvent.class)
    @PreDestroy
    void stop() {
        Run r = last;
        if (r != null && !r.done) {
            r.stopped = true;
            for (TestRun t : r.runs) {
                t.dwork.cancel();
            }
        }
    }
}
