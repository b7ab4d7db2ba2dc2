package dev.cmwq.workqueue.actuate;

import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import org.springframework.context.event.EventListener;

/** A bean ({@code @Import} it) that records every {@link WorkqueueStallEvent} with the thread it came on. */
class StallEventRecorder {

    record Seen(WorkqueueStallEvent event, String thread) {
    }

    final List<Seen> seen = new CopyOnWriteArrayList<>();

    @EventListener
    void on(WorkqueueStallEvent event) {
        seen.add(new Seen(event, Thread.currentThread().getName()));
    }

    List<WorkqueueStallEvent> events() {
        return seen.stream().map(Seen::event).toList();
    }
}
