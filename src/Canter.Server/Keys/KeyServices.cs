using Canter.Server.Tasks;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;

namespace Canter.Server.Keys;

public static class KeyServices
{
    /// <summary>The key store (in the data folder's tasks.db unless one is registered already), the rate limiter and the submit-time limits.</summary>
    public static IServiceCollection AddCanterKeys(this IServiceCollection services)
    {
        services.TryAddSingleton<IKeyStore>(sp => new SqliteKeyStore(Path.Combine(sp.GetRequiredService<TaskFiles>().Root, "tasks.db")));
        services.TryAddSingleton<KeyRateLimiter>();
        services.TryAddSingleton<KeyAdmission>();
        return services;
    }
}
