#!/bin/sh
# Runs one paystream CLI command as a Spark application, e.g.
#   sh /opt/paystream/spark/submit.sh lakehouse build
# spark-submit to $PAYSTREAM_LAKEHOUSE__SPARK_MASTER (paystream-config) in client mode: the
# driver is this pod, the executors run on the Spark cluster and connect back to
# $POD_IP:7078/7079, so pod IPs must be routable from the Spark workers (true for Azure CNI
# and for an in-cluster Spark). paystream/stores/spark.py builds the session from the same settings.
set -eu
: "${PAYSTREAM_LAKEHOUSE__SPARK_MASTER:?missing: set it in paystream-config}"
: "${POD_IP:?missing: set it from the downward API (status.podIP)}"
[ "$#" -gt 0 ] || { echo "usage: submit.sh PAYSTREAM-COMMAND [ARGS...]" >&2; exit 2; }

# spark-submit runs a Python file, not a console script: a two-line entry point for the CLI.
main=/tmp/paystream_main.py
printf 'from cli.main import run\n\nrun()\n' > "$main"
mkdir -p /tmp/spark

# SPARK_SUBMIT_EXTRA_ARGS: word-split on purpose (e.g. "--conf spark.executor.memory=4g").
# shellcheck disable=SC2086
exec spark-submit \
  --master "$PAYSTREAM_LAKEHOUSE__SPARK_MASTER" \
  --deploy-mode client \
  --name "${SPARK_APP_NAME:-paystream}" \
  --driver-memory "${SPARK_DRIVER_MEMORY:-2g}" \
  --conf "spark.driver.host=$POD_IP" \
  --conf spark.driver.bindAddress=0.0.0.0 \
  --conf spark.driver.port=7078 \
  --conf spark.blockManager.port=7079 \
  --conf spark.local.dir=/tmp/spark \
  --conf spark.jars.ivy=/tmp/ivy \
  ${SPARK_SUBMIT_EXTRA_ARGS:-} \
  "$main" "$@"
