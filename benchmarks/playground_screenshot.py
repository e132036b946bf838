"""The README's picture of the playground: serve runs (default: the demo's), generate in headless
Chromium, save the page as a PNG.

    python benchmarks/playground_screenshot.py [RUN ...] [--out docs/playground.png]

Needs Chromium and chromedriver (`make browser`) and the `serve` and `test` extras (Selenium).
"""

from __future__ import annotations

import argparse
import shutil

from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

from genlab.app.loadtest import start_server, stop_server


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("runs", nargs="*", default=["runs/demo"])
    p.add_argument("--out", default="docs/playground.png")
    p.add_argument("--num", default="16")
    args = p.parse_args()
    proc, base = start_server(args.runs)
    options = webdriver.ChromeOptions()
    options.binary_location = shutil.which("chromium") or shutil.which("chromium-browser")
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--window-size=1280,900", "--hide-scrollbars"):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(shutil.which("chromedriver")), options=options)
    try:
        driver.get(base + "/")
        WebDriverWait(driver, 30).until(lambda d: d.find_elements(By.CSS_SELECTOR, "#model option"))
        num = driver.find_element(By.ID, "num")
        num.clear()
        num.send_keys(args.num)
        driver.find_element(By.ID, "tags").send_keys("readme")
        driver.find_element(By.ID, "generate").click()
        WebDriverWait(driver, 60).until(lambda d: d.find_elements(By.CSS_SELECTOR, "#results .result img"))
        img = driver.find_element(By.CSS_SELECTOR, "#results .result img")
        WebDriverWait(driver, 30).until(lambda d: d.execute_script("return arguments[0].complete", img))
        driver.save_screenshot(args.out)
        print(f"wrote {args.out}")
    finally:
        driver.quit()
        stop_server(proc)


if __name__ == "__main__":
    main()
