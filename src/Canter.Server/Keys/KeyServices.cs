using Canter.Server.Tasks;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;

namespace Canter.Server.Keys;

public static class KeyServices
{
    /// <summary>
    /// The key store (where the task store is: the data folder's tasks.db, or the shared PostgreSQL database; unless one is
    /// registered already), the rate limiter and the submit-time limits.
    /// </summary>
    public static IServiceCollection AddCanterKeys(this IServiceCollection services)
    {
        services.TryAddSingleton<IKeyStore>(sp => TaskStores.Pick<IKeyStore>(sp, path => new SqliteKeyStore(path), db => new PostgresKeyStore(db)));
        services.TryAddSingleton<KeyRateLimiter>();
        services.TryAddSingleton<KeyAdmission>();
        return services;
    }
}
