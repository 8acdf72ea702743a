"""Docstrings as plain text for a terminal: reStructuredText roles and ``.. math::`` blocks
(LaTeX) rewritten as readable text (``\\frac{a}{b}`` -> ``(a) / (b)``, ``\\tau`` -> ``τ``).

The conversion covers the LaTeX the library's docstrings use; an unknown command keeps its
name without the backslash, so nothing is lost, only less pretty.
"""

from __future__ import annotations

import re

SYMBOLS = {
    "alpha": "α",
    "beta": "β",
    "gamma": "γ",
    "delta": "δ",
    "epsilon": "ε",
    "varepsilon": "ε",
    "zeta": "ζ",
    "eta": "η",
    "theta": "θ",
    "kappa": "κ",
    "lambda": "λ",
    "mu": "μ",
    "nu": "ν",
    "xi": "ξ",
    "pi": "π",
    "rho": "ρ",
    "sigma": "σ",
    "tau": "τ",
    "phi": "φ",
    "varphi": "φ",
    "chi": "χ",
    "psi": "ψ",
    "omega": "ω",
    "Gamma": "Γ",
    "Delta": "Δ",
    "Theta": "Θ",
    "Lambda": "Λ",
    "Sigma": "Σ",
    "Phi": "Φ",
    "Psi": "Ψ",
    "Omega": "Ω",
    "ell": "ℓ",
    "sum": "Σ",
    "prod": "Π",
    "int": "∫",
    "partial": "∂",
    "nabla": "∇",
    "infty": "∞",
    "cdot": "·",
    "times": "×",
    "odot": "⊙",
    "circ": "∘",
    "le": "≤",
    "leq": "≤",
    "ge": "≥",
    "geq": "≥",
    "ne": "≠",
    "neq": "≠",
    "approx": "≈",
    "sim": "~",
    "propto": "∝",
    "in": "∈",
    "notin": "∉",
    "subset": "⊂",
    "cap": "∩",
    "cup": "∪",
    "setminus": "∖",
    "forall": "∀",
    "exists": "∃",
    "to": "→",
    "rightarrow": "→",
    "leftarrow": "←",
    "mapsto": "↦",
    "lVert": "‖",
    "rVert": "‖",
    "Vert": "‖",
    "|": "‖",
    "lvert": "|",
    "rvert": "|",
    "langle": "⟨",
    "rangle": "⟩",
    "lfloor": "⌊",
    "rfloor": "⌋",
    "lceil": "⌈",
    "rceil": "⌉",
    "pm": "±",
    "ldots": "...",
    "cdots": "...",
    "dots": "...",
    "top": "ᵀ",
    "prime": "′",
    "quad": "  ",
    "qquad": "    ",
    ",": " ",
    ";": " ",
    ":": " ",
    "!": "",
    " ": " ",
    "{": "{",
    "}": "}",
    "_": "_",
    "%": "%",
}
# commands that only size or space things: dropped
DROPPED = {
    "left",
    "right",
    "big",
    "Big",
    "bigg",
    "Bigg",
    "bigl",
    "bigr",
    "Bigl",
    "Bigr",
    "biggl",
    "biggr",
    "displaystyle",
    "limits",
    "nolimits",
}
# commands whose argument is printed as it is
TEXT_ARG = {
    "text",
    "mathrm",
    "operatorname",
    "mathbf",
    "mathit",
    "mathcal",
    "boldsymbol",
    "textrm",
    "textbf",
    "mathsf",
    "texttt",
    "bm",
    "mathbb",
}
NAMED = {
    "log",
    "exp",
    "max",
    "min",
    "sup",
    "inf",
    "arg",
    "argmax",
    "argmin",
    "sin",
    "cos",
    "tan",
    "tanh",
    "sgn",
    "det",
    "tr",
    "lim",
    "softplus",
    "sign",
    "arctan",
    "atan",
    "mean",
    "var",
    "cov",
    "diag",
    "erf",
}
ACCENT = {"hat": "\u0302", "tilde": "\u0303", "bar": "\u0304", "vec": "\u20d7"}


def _group(text: str, i: int) -> tuple[str, int]:
    """The argument starting at ``text[i]``: a ``{...}`` group (without its braces) or one
    character / command; returns ``(argument, index after it)``."""
    while i < len(text) and text[i] == " ":
        i += 1
    if i >= len(text):
        return "", i
    if text[i] == "{":
        depth, j = 1, i + 1
        while j < len(text) and depth:
            depth += {"{": 1, "}": -1}.get(text[j], 0)
            j += 1
        return text[i + 1 : j - 1], j
    if text[i] == "\\":
        m = re.match(r"\\([A-Za-z]+|.)", text[i:])
        if m:
            return m.group(0), i + m.end()
    return text[i], i + 1


def _simple(text: str) -> bool:
    return bool(re.fullmatch(r"[\w′ᵀ*+\-,.^]+", text))


def latex_to_text(tex: str) -> str:
    """Readable plain text of a LaTeX formula."""
    out: list[str] = []
    i = 0
    tex = tex.replace("\\\\", "\n").replace("&", "")
    while i < len(tex):
        c = tex[i]
        if c == "\\":
            m = re.match(r"\\([A-Za-z]+|.)", tex[i:])
            name = m.group(1) if m else ""
            i += m.end() if m else 1
            if name == "frac" or name in ("dfrac", "tfrac"):
                a, i = _group(tex, i)
                b, i = _group(tex, i)
                a, b = latex_to_text(a), latex_to_text(b)
                frac = f"{_paren(a)} / {_paren(b)}"
                before = re.search(r"([A-Za-z]*)\s*$", "".join(out))
                after_function = before is not None and before.group(1) in NAMED
                out.append(f"({frac}) " if after_function else f"{frac} ")
            elif name == "sqrt":
                a, i = _group(tex, i)
                out.append(f"√{_paren(latex_to_text(a), always=True)}")
            elif name in TEXT_ARG:
                a, i = _group(tex, i)
                out.append(latex_to_text(a))
            elif name in ACCENT:
                a, i = _group(tex, i)
                a = latex_to_text(a)
                out.append(a + ACCENT[name] if len(a) == 1 else f"{name}({a})")
            elif name in DROPPED:
                continue
            elif name in NAMED:
                out.append(name + " ")
            elif name in ("sum", "prod"):
                out.append(" " + SYMBOLS[name])
            elif name in SYMBOLS:
                out.append(SYMBOLS[name])
            else:
                out.append(name)
        elif c in "_^":
            a, i = _group(tex, i + 1)
            a = latex_to_text(a)
            out.append(c + (a if _simple(a) else f"({a})"))
        elif c in "{}":
            i += 1
        else:
            out.append(c)
            i += 1
    text = "".join(out)
    text = re.sub(r"[ \t]+", " ", text)
    text = re.sub(r"\b(" + "|".join(NAMED) + r") ([(\[|])", r"\1\2", text)
    return "\n".join(line.strip() for line in text.splitlines())


def _paren(text: str, always: bool = False) -> str:
    return text if (_simple(text) and not always) else f"({text})"


_ROLE = re.compile(r":(?:func|class|meth|mod|attr|data|obj|exc|ref|doc|py:\w+):`~?([^`]+)`")
_MATH_ROLE = re.compile(r":math:`([^`]+)`")


def _role(match: re.Match[str]) -> str:
    target = match.group(1)
    if "<" in target and target.endswith(">"):  # :ref:`text <target>`
        return target.split("<")[0].strip()
    if match.group(0).startswith(":func:`~") or match.group(0).startswith(":class:`~"):
        target = target.rsplit(".", 1)[-1]
    return target.removeprefix("visionloss.")


def inline(text: str) -> str:
    """One line's roles and markup as plain text."""
    text = _MATH_ROLE.sub(lambda m: latex_to_text(m.group(1)), text)
    text = _ROLE.sub(_role, text)
    text = re.sub(r"``([^`]+)``", r"\1", text)
    text = re.sub(r"(?<![\w*])\*\*([^*]+)\*\*(?![\w*])", r"\1", text)
    text = re.sub(r"(?<![\w*])\*([^*\s][^*]*)\*(?![\w*])", r"\1", text)
    return text


def rst_to_text(doc: str) -> str:
    """A docstring (reStructuredText, Google sections) as plain text: ``.. math::`` blocks as
    indented formulas, roles and literals without their markup."""
    # an inline :math:`...` may run over a line break: join it first
    doc = _MATH_ROLE.sub(lambda m: ":math:`" + " ".join(m.group(1).split()) + "`", doc)
    doc = re.sub(r"``(.+?)``", r"\1", doc, flags=re.DOTALL)  # literals, over line breaks too
    lines = doc.splitlines()
    out: list[str] = []
    i = 0
    while i < len(lines):
        line = lines[i]
        stripped = line.strip()
        if stripped.startswith(".. math::"):
            indent = len(line) - len(line.lstrip())
            body = [stripped[len(".. math::") :].strip()]
            i += 1
            while i < len(lines) and (
                not lines[i].strip() or len(lines[i]) - len(lines[i].lstrip()) > indent
            ):
                body.append(lines[i].strip())
                i += 1
            formula = latex_to_text(" ".join(b for b in body if b))
            out.extend(" " * (indent + 4) + f for f in formula.splitlines() if f)
            out.append("")
            continue
        if stripped.endswith("::") and not stripped.startswith(".."):  # literal block marker
            line = line.rstrip()[:-1]
        out.append(inline(line))
        i += 1
    text = "\n".join(out)
    return re.sub(r"\n{3,}", "\n\n", text).strip() + "\n"
