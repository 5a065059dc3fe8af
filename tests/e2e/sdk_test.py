#!/usr/bin/env python3
"""docker-py (python3-docker) through the proxy.

Environment:
  DPP_E2E_HOST   base_url, e.g. tcp://127.0.0.1:2375 or unix:///var/run/docker.sock
  DPP_E2E_IMAGE  test image (busybox-static based)
  DPP_E2E_LABEL  "key=value" label put on every container created here
"""
import io
import os
import sys
import tarfile
import time
import unittest

import docker

HOST = os.environ.get("DPP_E2E_HOST", "")
IMAGE = os.environ.get("DPP_E2E_IMAGE", "")
LABEL_KEY, _, LABEL_VALUE = os.environ.get("DPP_E2E_LABEL", "dpp-e2e.run=sdk").partition("=")
LABELS = {LABEL_KEY: LABEL_VALUE}


class SdkThroughProxy(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        if not HOST or not IMAGE:
            raise RuntimeError("DPP_E2E_HOST and DPP_E2E_IMAGE must be set")
        cls.client = docker.DockerClient(base_url=HOST, version="auto", timeout=60)

    @classmethod
    def tearDownClass(cls):
        for c in cls.client.containers.list(all=True, filters={"label": "%s=%s" % (LABEL_KEY, LABEL_VALUE)}):
            if c.name.startswith("dpp-e2e-sdk-"):
                c.remove(force=True)
        cls.client.close()

    def run_container(self, *cmd, **kw):
        c = self.client.containers.create(IMAGE, list(cmd), labels=LABELS,
                                          name="dpp-e2e-sdk-%s-%d" % (LABEL_VALUE, time.monotonic_ns()), **kw)
        self.addCleanup(c.remove, force=True)
        return c

    def test_ping_and_version(self):
        self.assertTrue(self.client.ping())
        v = self.client.version()
        self.assertIn("ApiVersion", v)

    def test_containers_list(self):
        c = self.run_container("true")
        ids = [x.id for x in self.client.containers.list(all=True, filters={"label": "%s=%s" % (LABEL_KEY, LABEL_VALUE)})]
        self.assertIn(c.id, ids)
        running = [x.id for x in self.client.containers.list()]
        self.assertNotIn(c.id, running)

    def test_create_start_wait_logs(self):
        c = self.run_container("sh", "-c", "echo sdk-out; echo sdk-err >&2; exit 7")
        c.start()
        res = c.wait(timeout=30)
        self.assertEqual(res["StatusCode"], 7)
        self.assertEqual(c.logs(stdout=True, stderr=False), b"sdk-out\n")
        self.assertEqual(c.logs(stdout=False, stderr=True), b"sdk-err\n")

    def test_exec_run(self):
        c = self.run_container("sleep", "300")
        c.start()
        code, out = c.exec_run(["sh", "-c", "echo exec-out; exit 4"])
        self.assertEqual(code, 4)
        self.assertEqual(out, b"exec-out\n")
        code, (out, err) = c.exec_run(["sh", "-c", "echo o; echo e >&2"], demux=True)
        self.assertEqual((code, out, err), (0, b"o\n", b"e\n"))

    def test_put_get_archive(self):
        c = self.run_container("sleep", "300")
        c.start()
        payload = os.urandom(300 * 1024)
        buf = io.BytesIO()
        with tarfile.open(fileobj=buf, mode="w") as tf:
            info = tarfile.TarInfo("payload.bin")
            info.size = len(payload)
            tf.addfile(info, io.BytesIO(payload))
        self.assertTrue(c.put_archive("/tmp", buf.getvalue()))
        stream, stat = c.get_archive("/tmp/payload.bin")
        self.assertEqual(stat["size"], len(payload))
        data = b"".join(stream)
        with tarfile.open(fileobj=io.BytesIO(data), mode="r") as tf:
            got = tf.extractfile("payload.bin").read()
        self.assertEqual(got, payload)


if __name__ == "__main__":
    result = unittest.main(verbosity=2, exit=False).result
    sys.exit(0 if result.wasSuccessful() and result.testsRun > 0 else 1)
