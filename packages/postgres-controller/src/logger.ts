// The Logger is defined once, in @pgha/primitives (below every layer, so this package, which
// depends on no other pgha package, shares it with @pgha/dcs and the rest).
export { silentLogger, type Logger } from '@pgha/primitives';
