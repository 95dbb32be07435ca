using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace Canter.Server.Tasks;

/// <summary>
/// Picks the stores <see cref="ServerOptions.Store"/> names: SQLite in the data folder's tasks.db when empty, else the
/// PostgreSQL database, one per process (<see cref="PostgresDatabase"/>) for the task store and every side table, so
/// that every table of a scale-out lives in the one database its machines share.
/// </summary>
public static class TaskStores
{
    /// <summary>The task store, the shared database when there is one, and the <see cref="IProcessRoles"/> of this process.</summary>
    public static IServiceCollection AddCanterStores(this IServiceCollection services)
    {
        services.AddSingleton(sp => new PostgresDatabase(PostgresTaskStore.ConnectionString(Options(sp).Store)));   // made only when a store is named
        services.AddSingleton<ITaskStore>(sp => IsPostgres(sp)
            ? new PostgresTaskStore(sp.GetRequiredService<PostgresDatabase>(), sp.GetRequiredService<TaskNotifier>(),
                lease: TimeSpan.FromSeconds(Options(sp).LeaseSeconds), log: sp.GetRequiredService<ILoggerFactory>().CreateLogger<PostgresTaskStore>())
            : new SqliteTaskStore(Path.Combine(sp.GetRequiredService<TaskFiles>().Root, "tasks.db")));
        services.AddSingleton<IProcessRoles>(sp => IsPostgres(sp)
            ? new PostgresRoles(sp.GetRequiredService<PostgresDatabase>(), sp.GetRequiredService<ILogger<PostgresRoles>>())
            : new LocalRoles());
        return services;
    }

    /// <summary>
    /// A side table of one feature where the task store is: made by <paramref name="sqlite"/> from the path of tasks.db,
    /// or by <paramref name="postgres"/> on the shared database (after the task store, whose tables some side tables read).
    /// </summary>
    public static T Pick<T>(IServiceProvider sp, Func<string, T> sqlite, Func<PostgresDatabase, T> postgres)
    {
        if (!IsPostgres(sp)) return sqlite(Path.Combine(sp.GetRequiredService<TaskFiles>().Root, "tasks.db"));
        sp.GetRequiredService<ITaskStore>();
        return postgres(sp.GetRequiredService<PostgresDatabase>());
    }

    /// <summary>One line saying which store <paramref name="options"/> names, without its password.</summary>
    public static string Describe(ServerOptions options) =>
        options.Store is { Length: > 0 } store
            ? $"PostgreSQL {PostgresTaskStore.Describe(PostgresTaskStore.ConnectionString(store))}"
            : $"SQLite {Path.Combine(Path.GetFullPath(options.DataDir), "tasks.db")}";

    private static ServerOptions Options(IServiceProvider sp) => sp.GetRequiredService<IOptions<ServerOptions>>().Value;

    private static bool IsPostgres(IServiceProvider sp) => Options(sp).Store is { Length: > 0 };
}
