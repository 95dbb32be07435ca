using System.Collections.Concurrent;

namespace Canter.Server.Keys;

/// <summary>
/// Requests per minute per key, as a token bucket: a key may spend its whole minute's worth at once, and gets a token
/// back every 60/limit seconds. A refused request learns when the next token comes (the Retry-After header). Buckets
/// live in this process: with several server machines each one limits on its own.
/// </summary>
public sealed class KeyRateLimiter(TimeProvider? clock = null)
{
    private readonly TimeProvider _clock = clock ?? TimeProvider.System;
    private readonly ConcurrentDictionary<string, Bucket> _buckets = new(StringComparer.Ordinal);

    /// <summary>Takes one request from <paramref name="owner"/>'s bucket; when it is empty, says how long until it holds one.</summary>
    public (bool Allowed, TimeSpan RetryAfter) TryTake(string owner, int perMinute)
    {
        if (perMinute <= 0) return (true, TimeSpan.Zero);
        var bucket = _buckets.AddOrUpdate(owner, _ => new Bucket(perMinute, Now()), (_, b) => b.PerMinute == perMinute ? b : new Bucket(perMinute, Now()));
        return bucket.TryTake(Now());
    }

    private double Now() => _clock.GetTimestamp() / (double)_clock.TimestampFrequency;

    private sealed class Bucket(int perMinute, double now)
    {
        private readonly Lock _gate = new();
        private double _tokens = perMinute;
        private double _at = now;

        public int PerMinute { get; } = perMinute;

        public (bool, TimeSpan) TryTake(double now)
        {
            double perSecond = PerMinute / 60.0;
            lock (_gate)
            {
                _tokens = Math.Min(PerMinute, _tokens + Math.Max(0, now - _at) * perSecond);
                _at = now;
                if (_tokens >= 1)
                {
                    _tokens -= 1;
                    return (true, TimeSpan.Zero);
                }
                return (false, TimeSpan.FromSeconds((1 - _tokens) / perSecond));
            }
        }
    }
}
