package dev.cmwq.workqueue;

import jdk.jfr.Category;
import jdk.jfr.Description;
import jdk.jfr.Event;
import jdk.jfr.Label;
import jdk.jfr.Name;
import jdk.jfr.StackTrace;

/**
 * The kernel's four workqueue tracepoints as JDK Flight Recorder events, with the kernel's fields
 * ({@code work} is the item's identity hash, standing for its address). Each is created and
 * committed only after {@code isEnabled()}: with no recording on, the JIT removes the allocation
 * and the cost is one check.
 *
 * <pre>
 * jcmd &lt;pid&gt; JFR.start name=wq settings=profile
 * jfr print --events 'cmwq.workqueue_*' recording.jfr
 * </pre>
 */
final class TraceEvents {
    private TraceEvents() {
    }

    @Name("cmwq.workqueue_queue_work")
    @Label("workqueue_queue_work")
    @Category({"cmwq", "Workqueue"})
    @Description("A work item was queued (PENDING was set and the item linked to a pool workqueue)")
    @StackTrace(false)
    static final class QueueWork extends Event {
        @Label("work") long work;
        @Label("function") String function;
        @Label("workqueue") String workqueue;
        @Name("req_cpu") @Label("req_cpu") int reqCpu;
        @Label("cpu") int cpu;
    }

    @Name("cmwq.workqueue_activate_work")
    @Label("workqueue_activate_work")
    @Category({"cmwq", "Workqueue"})
    @Description("A work item became active: it went on its pool's worklist")
    @StackTrace(false)
    static final class ActivateWork extends Event {
        @Label("work") long work;
        @Label("function") String function;
        @Label("workqueue") String workqueue;
    }

    @Name("cmwq.workqueue_execute_start")
    @Label("workqueue_execute_start")
    @Category({"cmwq", "Workqueue"})
    @Description("A worker is about to run a work item's function")
    @StackTrace(false)
    static final class ExecuteStart extends Event {
        @Label("work") long work;
        @Label("function") String function;
        @Label("workqueue") String workqueue;
    }

    @Name("cmwq.workqueue_execute_end")
    @Label("workqueue_execute_end")
    @Category({"cmwq", "Workqueue"})
    @Description("A work item's function returned (or threw)")
    @StackTrace(false)
    static final class ExecuteEnd extends Event {
        @Label("work") long work;
        @Label("function") String function;
        @Label("workqueue") String workqueue;
    }

    static void queueWork(Work w, PoolWorkqueue pwq, int reqCpu) {
        QueueWork e = new QueueWork();
        if (e.isEnabled()) {
            e.work = System.identityHashCode(w);
            e.function = w.name();
            e.workqueue = pwq.wq.name();
            e.reqCpu = reqCpu;
            e.cpu = pwq.pool.cpu;
            e.commit();
        }
    }

    static void activateWork(Work w, PoolWorkqueue pwq) {
        ActivateWork e = new ActivateWork();
        if (e.isEnabled()) {
            e.work = System.identityHashCode(w);
            e.function = w.name();
            e.workqueue = pwq.wq.name();
            e.commit();
        }
    }

    static void executeStart(Work w, Workqueue wq) {
        ExecuteStart e = new ExecuteStart();
        if (e.isEnabled()) {
            e.work = System.identityHashCode(w);
            e.function = w.name();
            e.workqueue = wq.name();
            e.commit();
        }
    }

    static void executeEnd(Work w, Workqueue wq) {
        ExecuteEnd e = new ExecuteEnd();
        if (e.isEnabled()) {
            e.work = System.identityHashCode(w);
            e.function = w.name();
            e.workqueue = wq.name();
            e.commit();
        }
    }
}
