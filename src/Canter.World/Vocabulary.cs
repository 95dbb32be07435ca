namespace Canter.World;

// The enums below are written into dataset metadata and captions: append only, never reorder.

/// <summary>Kinds of subject; each has its own shape and its own timbre. Append only.</summary>
public enum SubjectClass { Ball, Cube, Star, Bird, Fish, Robot }

/// <summary>Subject colours. Append only.</summary>
public enum SubjectColor { Red, Orange, Yellow, Green, Cyan, Blue, Purple, White }

/// <summary>Surface patterns. Append only.</summary>
public enum Pattern { Solid, Stripes, Dots, Checker }

/// <summary>What a subject does during its event. Append only.</summary>
public enum Action { Move, Bounce, Jump, Spin, Grow, Speak }

/// <summary>Scene backgrounds, each with its ambience. Append only.</summary>
public enum Background { Meadow, Beach, Night, Studio }

/// <summary>Lighting of the scene. Append only.</summary>
public enum Lighting { Day, Dusk, DarkFlash }

/// <summary>Camera motion. Append only.</summary>
public enum Camera { Static, PanLeft, PanRight, ZoomIn, ZoomOut }

/// <summary>Colours, words and timbres of the vocabulary.</summary>
public static class Vocabulary
{
    public static (byte R, byte G, byte B) Rgb(SubjectColor c) => c switch
    {
        SubjectColor.Red => (220, 40, 40),
        SubjectColor.Orange => (245, 140, 30),
        SubjectColor.Yellow => (240, 220, 40),
        SubjectColor.Green => (50, 180, 60),
        SubjectColor.Cyan => (40, 200, 220),
        SubjectColor.Blue => (40, 70, 220),
        SubjectColor.Purple => (150, 60, 200),
        _ => (245, 245, 245),
    };

    public static string Word(SubjectClass c) => c.ToString().ToLowerInvariant();

    public static string Word(SubjectColor c) => c.ToString().ToLowerInvariant();

    public static string Word(Pattern p) => p switch
    {
        Pattern.Solid => "plain",
        Pattern.Stripes => "striped",
        Pattern.Dots => "spotted",
        _ => "checkered",
    };

    public static string Verb(Action a) => a switch
    {
        Action.Move => "moves across",
        Action.Bounce => "bounces",
        Action.Jump => "jumps",
        Action.Spin => "spins",
        Action.Grow => "grows",
        _ => "speaks",
    };

    /// <summary>The place, with its preposition ("on a beach", "in a studio").</summary>
    public static string Word(Background b) => b switch
    {
        Background.Meadow => "on a meadow",
        Background.Beach => "on a beach",
        Background.Night => "under a night sky",
        _ => "in a studio",
    };

    public static string Word(Lighting l) => l switch
    {
        Lighting.Day => "in daylight",
        Lighting.Dusk => "at dusk",
        _ => "in the dark, lit by a flash",
    };

    public static string Word(Camera c) => c switch
    {
        Camera.Static => "a static camera",
        Camera.PanLeft => "the camera pans left",
        Camera.PanRight => "the camera pans right",
        Camera.ZoomIn => "the camera zooms in",
        _ => "the camera zooms out",
    };

    /// <summary>Fundamental frequency (Hz) and harmonic weights of each class's voice.</summary>
    public static (float Pitch, float[] Harmonics) Timbre(SubjectClass c) => c switch
    {
        SubjectClass.Ball => (220f, [1f, 0.1f]),
        SubjectClass.Cube => (160f, [1f, 0.6f, 0.4f, 0.3f]),
        SubjectClass.Star => (660f, [1f, 0f, 0.3f]),
        SubjectClass.Bird => (880f, [1f, 0.5f]),
        SubjectClass.Fish => (300f, [1f, 0f, 0f, 0.2f]),
        _ => (120f, [1f, 0.8f, 0.7f, 0.6f, 0.5f]),
    };
}
