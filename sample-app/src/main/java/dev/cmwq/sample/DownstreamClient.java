package dev.cmwq.sample;

import dev.cmwq.workqueue.spring.WorkItem;
import java.io.IOException;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.util.concurrent.CompletableFuture;
import org.springframework.stereotype.Service;

/**
 * Calls to the slow downstream, each a work item on the bound {@code downstream} queue. A call
 * blocks its worker on I/O; the engine notices the worker sleeping and starts the next item on
 * another worker (concurrency management), so throughput holds with a handful of threads that
 * exist only while there is blocking.
 */
@Service
public class DownstreamClient {

    private final HttpClient http = HttpClient.newHttpClient();
    private final SlowDownstream downstream;

    public DownstreamClient(SlowDownstream downstream) {
        this.downstream = downstream;
    }

    @WorkItem(queue = "downstream")
    public CompletableFuture<String> fetch(int id) throws IOException, InterruptedException {
        HttpResponse<String> r = http.send(HttpRequest.newBuilder(downstream.uri(id)).build(), HttpResponse.BodyHandlers.ofString());
        return CompletableFuture.completedFuture(r.body());
    }
}
