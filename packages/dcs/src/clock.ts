// The clocks are defined once, in @pgha/primitives (postgres-controller and watchdog use them too);
// re-exported here because drivers and the layers above reach them through @pgha/dcs.
export { MAX_TIMER_MS, nodeClock, sleep, systemClock, timerDelay, type Clock, type MonotonicClock } from '@pgha/primitives';
