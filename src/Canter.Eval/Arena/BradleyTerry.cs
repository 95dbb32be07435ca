namespace Canter.Eval.Arena;

/// <summary>A Bradley-Terry fit: log-strengths θ (strength p = e^θ), the Newton steps taken, and whether the last step was below the tolerance.</summary>
public sealed record BradleyTerryFit(double[] LogStrengths, int Iterations, bool Converged);

/// <summary>
/// Bradley-Terry by maximum likelihood: P(i beats j) = p_i / (p_i + p_j). The input is a score table,
/// <c>score[i, j]</c> = how often i beat j, where a tie counts as half a win for each side.
/// <para>
/// The prior: every model also plays <c>priorGames</c> virtual ties against a fixed reference of strength 1. That is a
/// weak prior (the fit is its maximum a posteriori) which keeps a model that won, or lost, every game at a finite
/// strength and fixes the overall scale that the likelihood alone leaves free. With <c>priorGames = 0</c> the plain
/// maximum likelihood estimate is fitted, the first model's θ held at 0; it exists only when every model has both won
/// and lost against the rest (the comparison graph is strongly connected), and otherwise the fit stops at the
/// iteration cap with <see cref="BradleyTerryFit.Converged"/> false.
/// </para>
/// <para>
/// The method is Newton's on θ with a backtracking line search: the log-likelihood is concave in θ (strictly, with
/// the prior), so each step goes uphill and a few steps reach the maximum to machine precision, which matters when a
/// bootstrap refits a thousand times.
/// </para>
/// </summary>
public static class BradleyTerry
{
    public static BradleyTerryFit Fit(double[,] score, double priorGames = 1, int maxIterations = 100, double tolerance = 1e-10, double[]? start = null)
    {
        int n = score.GetLength(0);
        if (score.GetLength(1) != n) throw new ArgumentException($"the score table must be square; it is {n}x{score.GetLength(1)}");
        if (!(priorGames >= 0) || double.IsInfinity(priorGames)) throw new ArgumentException($"the prior must be a finite number of games >= 0; got {priorGames}");
        ArgumentOutOfRangeException.ThrowIfLessThan(maxIterations, 1);
        if (!(tolerance > 0)) throw new ArgumentException($"the tolerance must be positive; got {tolerance}");
        if (start is not null && start.Length != n) throw new ArgumentException($"the start has {start.Length} strengths for {n} models");
        var won = new double[n];
        for (int i = 0; i < n; i++)
            for (int j = 0; j < n; j++)
            {
                if (!(score[i, j] >= 0) || double.IsInfinity(score[i, j])) throw new ArgumentException($"score[{i}, {j}] = {score[i, j]} is not a count");
                if (i != j) won[i] += score[i, j];
            }
        var theta = start is null ? new double[n] : (double[])start.Clone();
        bool pinFirst = priorGames == 0 && n > 0;
        if (pinFirst) theta[0] = 0;
        double current = LogLikelihood(score, priorGames, theta);
        var gradient = new double[n];
        var curvature = new double[n, n]; // minus the Hessian
        var candidate = new double[n];
        for (int iteration = 1; iteration <= maxIterations; iteration++)
        {
            Derivatives(score, won, priorGames, theta, gradient, curvature);
            if (pinFirst)
            {
                for (int k = 0; k < n; k++) curvature[0, k] = curvature[k, 0] = 0;
                curvature[0, 0] = 1;
                gradient[0] = 0;
            }
            var step = Solve(curvature, gradient);
            if (step is null) return new BradleyTerryFit(theta, iteration, false); // singular: models never compared, no prior
            double t = 1, next = double.NegativeInfinity;
            for (int halving = 0; halving < 60; halving++, t /= 2)
            {
                for (int k = 0; k < n; k++) candidate[k] = theta[k] + t * step[k];
                next = LogLikelihood(score, priorGames, candidate);
                if (next >= current - 1e-12 * (1 + Math.Abs(current))) break;
            }
            double change = 0;
            for (int k = 0; k < n; k++) change = Math.Max(change, Math.Abs(candidate[k] - theta[k]));
            (theta, candidate) = (candidate, theta);
            current = next;
            if (change < tolerance) return new BradleyTerryFit(theta, iteration, true);
        }
        return new BradleyTerryFit(theta, maxIterations, false);
    }

    /// <summary>The log-likelihood of the scores plus the prior's virtual ties: sum s_ij log σ(θi - θj) + c sum ½ (log σ(θi) + log σ(-θi)).</summary>
    public static double LogLikelihood(double[,] score, double priorGames, IReadOnlyList<double> theta)
    {
        int n = theta.Count;
        double total = 0;
        for (int i = 0; i < n; i++)
        {
            total += priorGames * 0.5 * (LogSigmoid(theta[i]) + LogSigmoid(-theta[i]));
            for (int j = 0; j < n; j++)
                if (i != j && score[i, j] > 0) total += score[i, j] * LogSigmoid(theta[i] - theta[j]);
        }
        return total;
    }

    public static double Sigmoid(double x) => x >= 0 ? 1 / (1 + Math.Exp(-x)) : Math.Exp(x) / (1 + Math.Exp(x));

    private static double LogSigmoid(double x) => -(Math.Max(-x, 0) + Math.Log(1 + Math.Exp(-Math.Abs(x))));

    /// <summary>Gradient g_i = W_i - sum_j n_ij σ(θi - θj) + c (½ - σ(θi)); curvature = minus the Hessian (a weighted graph Laplacian plus the prior's diagonal).</summary>
    private static void Derivatives(double[,] score, double[] won, double priorGames, double[] theta, double[] gradient, double[,] curvature)
    {
        int n = theta.Length;
        for (int i = 0; i < n; i++)
        {
            double s = Sigmoid(theta[i]);
            gradient[i] = won[i] + priorGames * (0.5 - s);
            for (int j = 0; j < n; j++) curvature[i, j] = 0;
            curvature[i, i] = priorGames * s * (1 - s);
        }
        for (int i = 0; i < n; i++)
            for (int j = i + 1; j < n; j++)
            {
                double games = score[i, j] + score[j, i];
                if (games == 0) continue;
                double s = Sigmoid(theta[i] - theta[j]), w = games * s * (1 - s);
                gradient[i] -= games * s;
                gradient[j] -= games * (1 - s);
                curvature[i, i] += w;
                curvature[j, j] += w;
                curvature[i, j] -= w;
                curvature[j, i] -= w;
            }
    }

    /// <summary>Solves A x = b for a symmetric positive definite A by Cholesky; null when A is not (numerically) positive definite.</summary>
    private static double[]? Solve(double[,] a, double[] b)
    {
        int n = b.Length;
        var l = new double[n, n];
        double largest = 0;
        for (int i = 0; i < n; i++) largest = Math.Max(largest, a[i, i]);
        for (int i = 0; i < n; i++)
            for (int j = 0; j <= i; j++)
            {
                double sum = a[i, j];
                for (int k = 0; k < j; k++) sum -= l[i, k] * l[j, k];
                if (i == j)
                {
                    if (!(sum > 1e-13 * largest)) return null;
                    l[i, i] = Math.Sqrt(sum);
                }
                else l[i, j] = sum / l[j, j];
            }
        var x = new double[n];
        for (int i = 0; i < n; i++)
        {
            double sum = b[i];
            for (int k = 0; k < i; k++) sum -= l[i, k] * x[k];
            x[i] = sum / l[i, i];
        }
        for (int i = n - 1; i >= 0; i--)
        {
            double sum = x[i];
            for (int k = i + 1; k < n; k++) sum -= l[k, i] * x[k];
            x[i] = sum / l[i, i];
        }
        return x;
    }
}
