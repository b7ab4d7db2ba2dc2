package dev.cmwq.workqueue;

/**
 * The link between one workqueue and one worker pool, the kernel's {@code pool_workqueue}. It
 * enforces the workqueue's {@code max_active} on that pool: up to {@code maxActive} items are
 * active (on the pool's worklist, on a worker's scheduled list, or running); the rest wait on
 * {@code inactive}, in queueing order, and are activated one by one as active items finish.
 *
 * <p>It also counts in-flight items per flush color ({@code nrInFlight[color]}): each item takes
 * the pwq's {@code workColor} when queued; a workqueue flush moves every pwq to the next color and
 * waits until the older colors drain (see {@link Workqueue#flush()}). The cost per item is one
 * array slot incremented and decremented.
 *
 * <p>An unbound queue may have several pwqs (one per pod of its affinity scope, plus retired ones
 * still draining after {@link Workqueue#applyAttrs}); their max_active is shared through
 * {@link UnboundNrActive}, and a pwq may be activated from another pool's completion through its
 * {@code activator} timer.
 *
 * <p>Every mutable field is guarded by {@code pool.lock}, except {@code onPending} and
 * {@code granted} (written under the shared count's lock; see {@link UnboundNrActive}) and
 * {@code dead} (volatile; see its comment).
 */
final class PoolWorkqueue {
    static final int STAT_STARTED = 0;
    static final int STAT_COMPLETED = 1;
    static final int STAT_FAILED = 2;
    static final int STAT_CM_WAKEUP = 3;
    static final int STAT_MAYDAY = 4;
    static final int STAT_RESCUED = 5;
    static final int STAT_CPU_TIME = 6;
    static final int STAT_CPU_INTENSIVE = 7;
    static final int STAT_REPATRIATED = 8;
    static final int NR_STATS = 9;

    /** The kernel's {@code WORK_NR_COLORS}. */
    static final int NR_COLORS = 16;

    /**
     * One in this many items is timed while they queue behind others of their pwq and its items
     * run short; each timed one then counts for this many in the statistics.
     */
    static final int TIMING_SAMPLE = 16;
    /**
     * Items whose last timed run was shorter than this are sampled when they queue behind others:
     * the three clock reads of a timed item (queueing, start, end; about 30 ns each on these VMs)
     * would otherwise be a third of a no-op item's whole cost, and are under 1 % of a 10 us one.
     */
    static final long SHORT_RUN_NANOS = 10_000;

    final Workqueue wq;
    final WorkerPool pool;
    /** Unbound queues: the queue-wide active count; null for bound queues (max_active per pwq). */
    final UnboundNrActive shared;
    /** On the shared count's pending list; written under its lock, volatile for {@link UnboundNrActive#keepFor}. */
    volatile boolean onPending;
    /**
     * Slots handed to this pwq by other pwqs' completions, not yet used; written under the shared
     * count's lock, volatile for its lock-free "none" check.
     */
    volatile int granted;
    /** An ordered queue's newer pwq after a move: nothing activates until the older ones drained. */
    boolean plugged;
    /** Replaced by {@link Workqueue#applyAttrs}: new items go elsewhere; released once empty. */
    boolean retired;
    /**
     * Released (the kernel's refcnt 0): a queuer that picked it must look again. Written under the
     * pool lock; volatile because a producer re-reads it after pushing on the intake (see
     * {@link Workqueue}'s queueing).
     */
    volatile boolean dead;
    /** Activates this pwq from its own pool's lock after a slot was handed to it from another pool. */
    final EngineTimer.InternalTimer activator = new EngineTimer.InternalTimer("pwq_activate") {
        @Override
        void expired() {
            pool.lock.lock();
            try {
                activateInactiveLocked();
            } finally {
                pool.lock.unlock();
            }
        }
    };

    int nrActive;
    int maxActive;
    /** Queued and not finished: on the worklist, on the inactive list, scheduled or running. */
    int nrInFlightTotal;
    final int[] nrInFlight = new int[NR_COLORS];
    /** The color new items take. */
    int workColor;
    /** The color being flushed on this pwq, or -1. */
    int flushColor = -1;
    final WorkList inactive;
    final long[] stats = new long[NR_STATS];
    final Histogram queueLatency = new Histogram();
    final Histogram runTime = new Histogram();
    /**
     * The run time of this pwq's last timed item ({@code Long.MAX_VALUE} until one was timed):
     * below {@link #SHORT_RUN_NANOS}, items queued behind others are timed one in
     * {@link #TIMING_SAMPLE} (see {@link #enterLocked}).
     */
    long lastRunNanos = Long.MAX_VALUE;
    /** Sampled items to pass before the next timed one. */
    private int timingSkip = TIMING_SAMPLE - 1;
    /** FREEZABLE queue while the engine is frozen: nothing new becomes active. */
    boolean frozen;
    /** On its workqueue's rescuer's mayday list; guarded by the engine's mayday lock. */
    boolean onMaydayList;

    PoolWorkqueue(Workqueue wq, WorkerPool pool, int maxActive, int workColor) {
        this.wq = wq;
        this.pool = pool;
        this.maxActive = maxActive;
        this.workColor = workColor;
        this.inactive = new WorkList(pool, WorkList.Kind.INACTIVE);
        this.shared = wq.nrActiveShared;
    }

    /**
     * The item joins this pwq in the current flush color, and is timed or not. Every item is timed
     * (its queueing time, start and end read, for the queue-latency and run-time histograms, the
     * CPU time and the watchdog) unless it queues behind others of this pwq ({@code nrInFlightTotal
     * > 0}) and the pwq's last timed item ran shorter than {@link #SHORT_RUN_NANOS}: such an item
     * is timed one in {@link #TIMING_SAMPLE}, and the timed one counts for all of them
     * ({@code Work.timing}). Systematic sampling of a backlog keeps the histograms' shape and
     * totals; a quiet queue, or one whose items take time, is timed item by item.
     *
     * @param now the clock, if the caller read it for this batch; 0 if not read yet
     * @return the clock as read for this item (or {@code now}, or 0 if neither needed it)
     */
    private long enterLocked(Work w, long now) {
        w.setPwqLocked(this); // a release store (see there)
        w.color = (byte) workColor;
        if (nrInFlightTotal == 0 || lastRunNanos >= SHORT_RUN_NANOS) {
            w.timing = 1;
        } else if (timingSkip > 0) {
            timingSkip--;
            w.timing = 0;
        } else {
            timingSkip = TIMING_SAMPLE - 1;
            w.timing = (byte) TIMING_SAMPLE;
        }
        if (w.timing != 0 && now == 0) {
            now = System.nanoTime();
        }
        w.queuedAt = now;
        nrInFlight[workColor]++;
        nrInFlightTotal++;
        return now;
    }

    /**
     * {@code __queue_work()}'s tail, pool lock held: the item becomes active and goes to the pool's
     * worklist if the limit allows and nothing older waits; otherwise it waits on the inactive list.
     */
    long insertLocked(Work w, long now) {
        now = enterLocked(w, now);
        if (inactive.isEmpty() && canActivateLocked() && tryGetSlotLocked()) {
            nrActive++;
            TraceEvents.activateWork(w, this);
            return pool.insertWorkLocked(w, now);
        }
        inactive.addLast(w);
        return now;
    }

    /**
     * {@link #insertLocked} for an item of an unbound queue whose producer took a max_active slot
     * before pushing it on the intake (slots are taken in queueing order, across pods). The slot
     * goes to this pwq's oldest waiting item if there is one (order within the pwq holds), and
     * back to the shared count if nothing may start now (frozen, plugged).
     */
    long insertHeldLocked(Work w, long now) {
        now = enterLocked(w, now);
        if (!canActivateLocked()) {
            inactive.addLast(w);
            releaseHeldSlotLocked();
        } else if (inactive.isEmpty()) {
            nrActive++;
            TraceEvents.activateWork(w, this);
            now = pool.insertWorkLocked(w, now);
        } else {
            inactive.addLast(w);
            activateLocked(inactive.first());
        }
        return now;
    }

    /** A slot taken for an item that will not use it (bounced, or nothing may start): pass it on. */
    void releaseHeldSlotLocked() {
        activateGranteeLocked(shared.release());
    }

    /** Not frozen and not plugged. */
    private boolean canActivateLocked() {
        return !frozen && !plugged;
    }

    /** A slot under max_active: this pwq's own (bound) or the queue's (unbound; else queued for one). */
    private boolean tryGetSlotLocked() {
        return shared == null ? nrActive < maxActive : shared.tryGetOrQueue(this);
    }

    /** An active item queued with flush {@code color} finished, pool lock held. */
    void completedLocked(int color) {
        activeEndedLocked();
        decNrInFlightLocked(color);
    }

    /** {@code try_to_grab_pending()}'s removal, pool lock held: {@code w} is on one of this pool's lists. */
    void cancelLocked(Work w) {
        WorkList l = w.list;
        switch (l.kind) {
            case INACTIVE -> inactive.remove(w);
            case WORKLIST -> {
                pool.removeWorkLocked(w);
                activeEndedLocked();
            }
            case SCHEDULED -> {
                l.remove(w);
                activeEndedLocked();
            }
        }
        decNrInFlightLocked(w.color);
    }

    /**
     * {@code pwq_dec_nr_active()}: one active item fewer (wakes freezers waiting for a frozen
     * queue's active items to end); its slot activates the next item, of this pwq or, for an
     * unbound queue, of the first pwq waiting for one.
     */
    private void activeEndedLocked() {
        if (--nrActive == 0 && frozen) {
            pool.inFlightDrainedLocked();
        }
        if (shared == null) {
            activateInactiveLocked();
            return;
        }
        Work next = inactive.first();
        if (next != null && canActivateLocked() && shared.keepFor(this)) {
            activateLocked(next); // the slot goes straight to our next item, as release() would give it
            return;
        }
        activateGranteeLocked(shared.release());
    }

    /** Activates {@code p}, which was handed a slot: here if it shares our pool, else from its own. */
    private void activateGranteeLocked(PoolWorkqueue p) {
        if (p == null) {
            return;
        }
        if (p.pool == pool) {
            p.activateInactiveLocked();
        } else {
            wq.engine.timer().armInternal(p.activator, System.nanoTime());
        }
    }

    /** {@code pwq_dec_nr_in_flight()}: a queued item of {@code color} is gone. */
    private void decNrInFlightLocked(int color) {
        nrInFlight[color]--;
        if (--nrInFlightTotal == 0) {
            pool.inFlightDrainedLocked();
            if (retired) {
                wq.retiredPwqDrained();
            }
        }
        if (color == flushColor && nrInFlight[color] == 0) {
            flushColor = -1;
            wq.flushPwqDone();
        }
    }

    /**
     * Activates inactive items, oldest first, while the limit allows. For an unbound queue it
     * first uses the slots handed to it, then takes free ones, and queues for more; slots it was
     * handed but can't use (frozen, plugged, nothing inactive) go on to the next waiting pwq.
     */
    void activateInactiveLocked() {
        Work w;
        if (shared == null) {
            int limit = effectiveMaxActive();
            while (nrActive < limit && (w = inactive.first()) != null) {
                activateLocked(w);
            }
            return;
        }
        int g = shared.takeGranted(this);
        while (canActivateLocked() && (w = inactive.first()) != null) {
            if (g > 0) {
                g--;
            } else if (!shared.tryGetOrQueue(this)) {
                break;
            }
            activateLocked(w);
        }
        while (g > 0) {
            g--;
            PoolWorkqueue p = shared.release();
            if (p == this) { // it was queued earlier, but can't use a slot now: pass this one on too
                g += shared.takeGranted(this);
                continue;
            }
            activateGranteeLocked(p);
        }
    }

    private void activateLocked(Work w) {
        inactive.remove(w);
        nrActive++;
        TraceEvents.activateWork(w, this);
        pool.insertWorkLocked(w, 0);
    }

    /** max_active, or 0 while frozen (the kernel's freezer sets it so) or plugged. */
    int effectiveMaxActive() {
        return frozen || plugged ? 0 : maxActive;
    }

    /** An ordered queue's older pwqs have drained: this one may start. */
    void unplugLocked() {
        plugged = false;
        activateInactiveLocked();
    }

    /** Freezing or thawing, pool lock held: thawing activates what waited. */
    void setFrozenLocked(boolean f) {
        frozen = f;
        activateInactiveLocked();
    }

    /** {@code pwq_adjust_max_active()}, pool lock held. */
    void setMaxActiveLocked(int n) {
        maxActive = n;
        activateInactiveLocked();
    }
}
