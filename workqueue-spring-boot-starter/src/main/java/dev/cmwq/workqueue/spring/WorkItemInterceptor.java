package dev.cmwq.workqueue.spring;

import dev.cmwq.workqueue.DelayedWork;
import dev.cmwq.workqueue.Work;
import dev.cmwq.workqueue.Workqueue;
import dev.cmwq.workqueue.Workqueues;
import java.lang.reflect.Method;
import java.lang.reflect.Modifier;
import java.lang.reflect.UndeclaredThrowableException;
import java.time.Duration;
import java.util.ArrayDeque;
import java.util.Arrays;
import java.util.TreeSet;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionStage;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.Future;
import java.util.function.Supplier;
import org.aopalliance.intercept.MethodInterceptor;
import org.aopalliance.intercept.MethodInvocation;
import org.springframework.aop.ProxyMethodInvocation;
import org.springframework.aop.support.AopUtils;
import org.springframework.boot.convert.DurationStyle;
import org.springframework.core.annotation.AnnotatedElementUtils;
import org.springframework.util.StringValueResolver;

/**
 * Turns calls of {@link WorkItem} methods into work items.
 *
 * <h2>Protocol</h2>
 * {@code items} maps (target, method, arguments) to an {@link Item}: one kernel {@link Work} (or
 * {@link DelayedWork}) per key, so the engine's PENDING bit and non-reentrancy give the kernel's
 * semantics. Each {@code Item} is guarded by its own monitor: a caller queues under it and, if
 * the engine took the item (queue returned true), appends an {@link Execution} (the invocation to
 * proceed, its future, the captured context) to {@code executions}. The work function polls the
 * first execution under the same monitor. Every true return of queueing is followed by exactly
 * one run, and runs of one item are serial, so the n-th run takes the n-th execution; a call that
 * was absorbed (item pending) shares the last execution's future, which is the pending run's.
 * When a run ends with no execution left, the item is retired (flag set under its monitor) and
 * removed from {@code items}; a caller that finds a retired item looks it up again, so one key
 * never has two live items. {@code specs} caches each method's resolved declaration.
 */
final class WorkItemInterceptor implements MethodInterceptor {

    private final Supplier<Workqueues> engine;
    private final StringValueResolver resolver;
    private final ConcurrentHashMap<Method, Spec> specs = new ConcurrentHashMap<>();
    private final ConcurrentHashMap<Key, Item> items = new ConcurrentHashMap<>();

    WorkItemInterceptor(Supplier<Workqueues> engine, StringValueResolver resolver) {
        this.engine = engine;
        this.resolver = resolver;
    }

    @Override
    public Object invoke(MethodInvocation invocation) {
        Object target = invocation.getThis();
        Class<?> targetClass = target != null ? AopUtils.getTargetClass(target) : invocation.getMethod().getDeclaringClass();
        Method method = AopUtils.getMostSpecificMethod(invocation.getMethod(), targetClass);
        Spec spec = spec(method);
        if (!(invocation instanceof ProxyMethodInvocation pmi)) {
            throw new IllegalStateException("@WorkItem needs a Spring AOP proxy invocation, got " + invocation.getClass().getName());
        }
        Object[] args = invocation.getArguments().clone();
        if (!spec.coalesce) {
            Execution ex = new Execution(pmi.invocableClone(), spec.returnsFuture ? new CompletableFuture<>() : null,
                    CapturedContext.capture(), spec.returnsFuture);
            String name = itemName(method, args);
            boolean queued;
            if (spec.delay == null) {
                queued = spec.wq.queue(new Work(name, ex::run));
            } else {
                queued = spec.wq.queueDelayed(new DelayedWork(name, ex::run), spec.delay);
            }
            return result(spec, queued, ex.future);
        }
        Key key = new Key(target, method, args);
        for (;;) {
            Item item = items.computeIfAbsent(key, k -> new Item(k, itemName(method, args), spec.delay != null));
            synchronized (item) {
                if (item.retired) {
                    continue; // its last run just ended: look again (the map no longer has it)
                }
                // Made before queueing: once the engine has the item, a run must find what it owes.
                Execution ex = new Execution(pmi.invocableClone(), spec.returnsFuture ? new CompletableFuture<>() : null,
                        CapturedContext.capture(), spec.returnsFuture);
                boolean queued;
                try {
                    if (spec.delay == null) {
                        queued = spec.wq.queue(item.work);
                    } else if (spec.debounce) {
                        queued = !spec.wq.modDelayed((DelayedWork) item.work, spec.delay); // was pending: its timer moved
                    } else {
                        queued = spec.wq.queueDelayed((DelayedWork) item.work, spec.delay);
                    }
                } catch (RuntimeException refused) { // shut down or destroyed: the caller gets it
                    if (item.executions.isEmpty()) {
                        item.retired = true; // nothing owed: don't keep the key
                        items.remove(key, item);
                    }
                    throw refused;
                }
                if (queued) {
                    item.executions.addLast(ex);
                    return result(spec, true, ex.future);
                }
                Execution pending = item.executions.peekLast();
                if (pending == null) {
                    throw new IllegalStateException("work item " + item.work.name() + " is pending without an execution");
                }
                return result(spec, false, pending.future);
            }
        }
    }

    private static Object result(Spec spec, boolean queued, CompletableFuture<Object> future) {
        if (spec.returnsFuture) {
            return future;
        }
        return spec.returnsBoolean ? queued : null;
    }

    /** The resolved declaration of {@code method}; the same checks as at start-up. */
    Spec spec(Method method) {
        Spec s = specs.get(method);
        if (s == null) {
            s = specs.computeIfAbsent(method, this::resolve);
        }
        return s;
    }

    /**
     * Checks a {@link WorkItem} declaration and resolves its queue and delay.
     *
     * @throws InvalidWorkqueueConfigurationException naming the method, the bad value and what is allowed
     */
    Spec resolve(Method method) {
        WorkItem ann = AnnotatedElementUtils.findMergedAnnotation(method, WorkItem.class);
        String where = describe(method);
        if (ann == null) {
            throw new IllegalStateException(where + " has no @WorkItem");
        }
        int mod = method.getModifiers();
        if (Modifier.isStatic(mod) || Modifier.isPrivate(mod)) {
            throw new InvalidWorkqueueConfigurationException(where, Modifier.toString(mod),
                    "a proxy can't intercept a static or private method, so calls would run at once in the caller",
                    "a public (or protected) instance method");
        }
        Class<?> rt = method.getReturnType();
        boolean returnsBoolean = rt == boolean.class || rt == Boolean.class;
        boolean returnsFuture = rt == CompletableFuture.class || rt == CompletionStage.class || rt == Future.class;
        if (!(rt == void.class || rt == Void.class || returnsBoolean || returnsFuture)) {
            throw new InvalidWorkqueueConfigurationException(where, "returns " + method.getGenericReturnType().getTypeName(),
                    "a work item's caller can't wait for a plain result",
                    "void; boolean (true if queued, false if absorbed); CompletableFuture<T>, CompletionStage<T> or Future<T>");
        }
        String queueName = resolve(ann.queue());
        Workqueues wqs = engine.get();
        Workqueue wq = wqs.workqueue(queueName).orElseThrow(() -> new InvalidWorkqueueConfigurationException(where,
                "queue = " + queueName, "no workqueue is named '" + queueName + "'", "one of " + queueNames(wqs)
                + " (declare new queues under workqueue.queues.<name>)"));
        Duration delay = null;
        String delayText = resolve(ann.delay());
        if (!delayText.isBlank()) {
            try {
                delay = DurationStyle.detectAndParse(delayText.strip());
            } catch (IllegalArgumentException e) {
                throw new InvalidWorkqueueConfigurationException(where, "delay = " + delayText, "not a duration",
                        "a duration such as 500ms, 2s, 1m or PT0.5S", e);
            }
            if (delay.isNegative()) {
                throw new InvalidWorkqueueConfigurationException(where, "delay = " + delayText, "a delay can't be negative",
                        "zero or a positive duration");
            }
        }
        if (ann.debounce() && delay == null) {
            throw new InvalidWorkqueueConfigurationException(where, "debounce = true", "debounce moves the item's timer, so it needs a delay",
                    "debounce = true with a delay (e.g. delay = \"500ms\"), or debounce = false");
        }
        if (ann.debounce() && !ann.coalesce()) {
            throw new InvalidWorkqueueConfigurationException(where, "debounce = true, coalesce = false",
                    "debounce moves one item's timer; without coalescing every call is a new item", "coalesce = true with debounce");
        }
        return new Spec(wq, delay, ann.debounce(), ann.coalesce(), returnsBoolean, returnsFuture);
    }

    /** {@code com.example.Indexer.reindex(long)}: how reports name a method. */
    static String describe(Method method) {
        return method.getDeclaringClass().getName() + "." + method.getName()
                + Arrays.stream(method.getParameterTypes()).map(Class::getSimpleName).toList().toString()
                .replace('[', '(').replace(']', ')');
    }

    private String resolve(String text) {
        String r = resolver != null ? resolver.resolveStringValue(text) : text;
        return r == null ? "" : r;
    }

    private static String queueNames(Workqueues wqs) {
        TreeSet<String> names = new TreeSet<>();
        for (Workqueue wq : wqs.workqueues()) {
            names.add(wq.name());
            if (wq.alias() != null) {
                names.add(wq.alias());
            }
        }
        return String.join(", ", names);
    }

    private static String itemName(Method method, Object[] args) {
        StringBuilder sb = new StringBuilder(method.getDeclaringClass().getSimpleName()).append('.').append(method.getName()).append('(');
        for (int i = 0; i < args.length && sb.length() < 120; i++) {
            if (i > 0) {
                sb.append(", ");
            }
            Object a = args[i];
            sb.append(a instanceof Object[] arr ? Arrays.deepToString(arr) : String.valueOf(a));
        }
        if (sb.length() > 120) {
            sb.setLength(117);
            sb.append("...");
        }
        return sb.append(')').toString();
    }

    /** Items alive now (pending, armed or running), for tests and diagnostics. */
    int liveItems() {
        return items.size();
    }

    /** A resolved declaration. */
    record Spec(Workqueue wq, Duration delay, boolean debounce, boolean coalesce, boolean returnsBoolean, boolean returnsFuture) {
    }

    /** (target by identity, method, arguments compared deeply). */
    private record Key(Object target, Method method, Object[] args) {
        @Override
        public boolean equals(Object o) {
            return o instanceof Key k && k.target == target && k.method.equals(method) && Arrays.deepEquals(k.args, args);
        }

        @Override
        public int hashCode() {
            return (System.identityHashCode(target) * 31 + method.hashCode()) * 31 + Arrays.deepHashCode(args);
        }
    }

    /** One work item per key; see the class comment for the protocol. */
    private final class Item {
        final Key key;
        final Work work;
        /** Runs owed, oldest first. Guarded by this. */
        final ArrayDeque<Execution> executions = new ArrayDeque<>(2);
        /** Set once, under this, when the last run ended with nothing owed. */
        boolean retired;

        Item(Key key, String name, boolean delayed) {
            this.key = key;
            this.work = delayed ? new DelayedWork(name, this::runOnce) : new Work(name, this::runOnce);
        }

        private void runOnce() {
            Execution ex;
            synchronized (this) {
                ex = executions.pollFirst();
            }
            try {
                if (ex != null) {
                    ex.run();
                }
            } finally {
                synchronized (this) {
                    if (executions.isEmpty() && !retired) {
                        retired = true;
                        items.remove(key, this);
                    }
                }
            }
        }
    }

    /** One run: the invocation to proceed, its future (or null), the caller's context. */
    private record Execution(MethodInvocation invocation, CompletableFuture<Object> future, CapturedContext context,
                             boolean returnsFuture) {

        void run() {
            context.run(this::proceed);
        }

        private void proceed() {
            Object result;
            try {
                result = invocation.proceed();
            } catch (Throwable t) {
                if (future != null) {
                    future.completeExceptionally(t);
                    return; // the caller holds the future: it has the exception
                }
                if (t instanceof RuntimeException r) {
                    throw r;
                }
                if (t instanceof Error e) {
                    throw e;
                }
                throw new UndeclaredThrowableException(t);
            }
            if (future == null) {
                return;
            }
            if (result instanceof CompletionStage<?> stage) {
                stage.whenComplete((v, t) -> {
                    if (t != null) {
                        future.completeExceptionally(t);
                    } else {
                        future.complete(v);
                    }
                });
            } else if (result instanceof Future<?> f) { // not a stage: wait for it here, in the work item
                try {
                    future.complete(f.get());
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                    future.completeExceptionally(e);
                } catch (Exception e) {
                    future.completeExceptionally(e instanceof java.util.concurrent.ExecutionException && e.getCause() != null
                            ? e.getCause() : e);
                }
            } else {
                future.complete(result);
            }
        }
    }
}
