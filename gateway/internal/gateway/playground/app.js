// placeholder: /v1/pipelines
