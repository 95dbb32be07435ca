using Microsoft.Extensions.Logging;

namespace Canter.Server.Tasks;

/// <summary>Picks the task store <see cref="ServerOptions.Store"/> names: SQLite in the data folder when empty, else PostgreSQL.</summary>
public static class TaskStores
{
    public static ITaskStore Create(ServerOptions options, TaskFiles files, TaskNotifier notifier, ILoggerFactory logs) =>
        options.Store is { Length: > 0 } store
            ? new PostgresTaskStore(PostgresTaskStore.ConnectionString(store), notifier, lease: TimeSpan.FromSeconds(options.LeaseSeconds),
                log: logs.CreateLogger<PostgresTaskStore>())
            : new SqliteTaskStore(Path.Combine(files.Root, "tasks.db"));

    /// <summary>One line saying which store <paramref name="options"/> names, without its password.</summary>
    public static string Describe(ServerOptions options) =>
        options.Store is { Length: > 0 } store
            ? $"PostgreSQL {PostgresTaskStore.Describe(PostgresTaskStore.ConnectionString(store))}"
            : $"SQLite {Path.Combine(Path.GetFullPath(options.DataDir), "tasks.db")}";
}
