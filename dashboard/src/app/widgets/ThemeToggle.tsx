import { useEffect, useState } from "preact/hooks";

const media = window.matchMedia("(prefers-color-scheme: dark)");
const KEY = "convio.theme"; // a display preference only, never a credential

/** "Dark mode": follows the system until toggled; the choice is remembered. */
export function ThemeToggle() {
  const [dark, setDark] = useState(() => {
    const saved = localStorage.getItem(KEY);
    return saved ? saved === "dark" : media.matches;
  });
  useEffect(() => {
    document.documentElement.dataset.theme = dark ? "dark" : "light";
  }, [dark]);
  useEffect(() => {
    const follow = (e: MediaQueryListEvent) => {
      if (!localStorage.getItem(KEY)) setDark(e.matches);
    };
    media.addEventListener("change", follow);
    return () => media.removeEventListener("change", follow);
  }, []);
  const toggle = () => {
    localStorage.setItem(KEY, dark ? "light" : "dark");
    setDark(!dark);
  };
  return (
    <button type="button" aria-pressed={dark} onClick={toggle}>
      Dark mode
    </button>
  );
}
